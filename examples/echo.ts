/**
 * The original echo server: greets each client with its id, broadcasts what anyone sends, and
 * tells the room when someone leaves.
 *
 * Run it: `deno run -A examples/echo.ts`, then connect to `ws://localhost:8080/ws/{room}`.
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

/** "User N connected." to the newcomer; "User N sent 'text'" and "User N left." to the room. */
export class EchoServer implements SimpleJamsocketService {
  connect(client: ClientId, ctx: JamsocketContext): void {
    ctx.sendMessage(client, `User ${client} connected.`);
  }

  message(client: ClientId, message: string, ctx: JamsocketContext): void {
    ctx.sendMessage(MessageRecipient.Broadcast, `User ${client} sent '${message}'`);
  }

  disconnect(client: ClientId, ctx: JamsocketContext): void {
    ctx.sendMessage(MessageRecipient.Broadcast, `User ${client} left.`);
  }
}

export default EchoServer;

if (import.meta.main) serve(EchoServer);
