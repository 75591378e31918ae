/**
 * A Jamsocket service: one instance runs each room. Clients connect to
 * `ws://localhost:8080/ws/<room>`; every client of a room shares its counter.
 *
 * - A client that connects is told its id: `User 1 connected.`
 * - `increment` / `decrement` change the room's counter; everyone gets `new value: N`.
 * - Any other text is passed on to the room: `User 1 sent 'hello'`.
 *
 * `trace("text", 1, <f64>value)` writes a line to the server's log, with the room id.
 */

import { JamsocketService, MessageRecipient, register } from "jamsocket";
export * from "jamsocket/exports";

class Service extends JamsocketService {
  private value: i32 = 0;

  connect(client: u32): void {
    this.ctx.sendMessage(client, `User ${client} connected.`);
  }

  message(client: u32, message: string): void {
    if (message == "increment" || message == "decrement") {
      this.value += message == "increment" ? 1 : -1;
      this.ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.value}`);
    } else {
      this.ctx.sendMessage(MessageRecipient.Broadcast, `User ${client} sent '${message}'`);
    }
  }
}

register((roomId: string) => new Service());
