/**
 * The original binary echo: text comes back to the room as bytes, and bytes come back as a text
 * description of them.
 *
 * Run it: `deno run -A examples/binary_echo.ts`, then connect to `ws://localhost:8080/ws/{room}`.
 *
 * @module
 */

import {
  type ClientId,
  type JamsocketContext,
  MessageRecipient,
  serve,
  type SimpleJamsocketService,
} from "../mod.ts";

const encoder = new TextEncoder();

/** Text in → its UTF-8 bytes broadcast; bytes in → "Received binary data: [1, 2, 3]" broadcast. */
export class BinaryEchoServer implements SimpleJamsocketService {
  message(_client: ClientId, message: string, ctx: JamsocketContext): void {
    ctx.sendBinary(MessageRecipient.Broadcast, encoder.encode(message));
  }

  binary(_client: ClientId, message: Uint8Array, ctx: JamsocketContext): void {
    ctx.sendMessage(MessageRecipient.Broadcast, `Received binary data: [${message.join(", ")}]`);
  }
}

export default BinaryEchoServer;

if (import.meta.main) serve(BinaryEchoServer);
