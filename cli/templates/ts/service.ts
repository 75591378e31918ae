/**
 * A Jamsocket service: one instance of this class runs each room. Clients connect to
 * `ws://localhost:8080/ws/<room>`; every client of a room shares its counter.
 *
 * - A client that connects is told its id: `User 1 connected.`
 * - `increment` / `decrement` change the room's counter; everyone gets `new value: N`.
 * - Any other text is passed on to the room: `User 1 sent 'hello'`.
 */

import {
  type ClientId,
  type JamsocketContext,
  MessageRecipient,
  type SimpleJamsocketService,
} from "@jamsocket/jamsocket";

export default class Service implements SimpleJamsocketService {
  #value = 0;

  constructor(_roomId: string, _ctx: JamsocketContext) {}

  connect(client: ClientId, ctx: JamsocketContext): void {
    ctx.sendMessage(client, `User ${client} connected.`);
  }

  message(client: ClientId, text: string, ctx: JamsocketContext): void {
    if (text === "increment" || text === "decrement") {
      this.#value += text === "increment" ? 1 : -1;
      ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.#value}`);
    } else {
      ctx.sendMessage(MessageRecipient.Broadcast, `User ${client} sent '${text}'`);
    }
  }
}
