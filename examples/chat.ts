/**
 * The original chat room: everyone starts as `clientN`, `/nick NAME` renames, and every other
 * message is broadcast as `NAME: text`.
 *
 * Run it: `deno run -A examples/chat.ts`, then connect to `ws://localhost:8080/ws/{room}`.
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

/** A chat room with nicknames. */
export class ChatServer implements SimpleJamsocketService {
  readonly #nicknames = new Map<ClientId, string>();

  connect(client: ClientId, ctx: JamsocketContext): void {
    const name = `client${client}`;
    this.#nicknames.set(client, name);
    ctx.sendMessage(client, `Welcome! Your name is ${name}. Send /nick <name> to change.`);
    ctx.sendMessage(MessageRecipient.Broadcast, `${name} has joined the chat`);
  }

  disconnect(client: ClientId, ctx: JamsocketContext): void {
    const name = this.#nicknames.get(client);
    this.#nicknames.delete(client);
    ctx.sendMessage(MessageRecipient.Broadcast, `${name} has left the chat`);
  }

  message(client: ClientId, message: string, ctx: JamsocketContext): void {
    const name = this.#nicknames.get(client)!;
    if (message.startsWith("/nick ")) {
      const nickname = message.slice("/nick ".length).trim();
      if (nickname === "") return ctx.sendMessage(client, "Usage: /nick <name>");
      this.#nicknames.set(client, nickname);
      ctx.sendMessage(MessageRecipient.Broadcast, `${name} is now known as ${nickname}`);
    } else {
      ctx.sendMessage(MessageRecipient.Broadcast, `${name}: ${message}`);
    }
  }
}

export default ChatServer;

if (import.meta.main) serve(ChatServer);
