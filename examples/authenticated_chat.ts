/**
 * A chat room that knows who connects: a token in the query string is checked before the
 * upgrade, the user's name rides along as per-client data, and each line goes to everyone but
 * its sender.
 *
 * Run it: `deno run -A examples/authenticated_chat.ts`, then connect to
 * `ws://localhost:8080/ws/lobby?token=ann-secret` (or `bob-secret`). Without a known token the
 * upgrade is answered 401 and no room is created. `/kick NAME` closes another user's connection.
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

/** The users this demo knows, by token. A real service would look tokens up in its database. */
export const USERS: Readonly<Record<string, string>> = {
  "ann-secret": "ann",
  "bob-secret": "bob",
};

/** What each client carries. */
export interface ChatUser {
  readonly name: string;
}

/** The chat room. */
export class AuthenticatedChat implements SimpleJamsocketService {
  /** Runs before the upgrade: a known token joins with its user's name; others get 401. */
  static authenticate(request: Request): ChatUser | Response {
    const token = new URL(request.url).searchParams.get("token") ?? "";
    const name = USERS[token];
    if (name === undefined) return new Response("Unknown token", { status: 401 });
    return { name };
  }

  connect(client: ClientId, ctx: JamsocketContext): void {
    const { name } = ctx.clientData<ChatUser>(client)!;
    ctx.sendMessage(client, `Welcome, ${name}!`);
    ctx.sendMessage(MessageRecipient.everyoneExcept(client), `${name} joined`);
  }

  disconnect(client: ClientId, ctx: JamsocketContext): void {
    const { name } = ctx.clientData<ChatUser>(client)!;
    ctx.sendMessage(MessageRecipient.Broadcast, `${name} left`);
  }

  message(client: ClientId, text: string, ctx: JamsocketContext): void {
    const { name } = ctx.clientData<ChatUser>(client)!;
    if (text.startsWith("/kick ")) {
      const target = ctx.clients.find((id) => ctx.clientData<ChatUser>(id)?.name === text.slice(6));
      if (target === undefined) return ctx.sendMessage(client, `No one called ${text.slice(6)}`);
      return ctx.closeClient(target, 4000, `Kicked by ${name}`);
    }
    ctx.sendMessage(MessageRecipient.everyoneExcept(client), `${name}: ${text}`);
  }
}

export default AuthenticatedChat;

if (import.meta.main) serve(AuthenticatedChat);
