/**
 * The shared counter from the original Jamsocket README, in AssemblyScript: the twin of
 * `examples/counter.ts`. Any client in a room may send `increment` or `decrement`; every message
 * is answered with a broadcast of `new value: N` to the room.
 */

import { JamsocketService, MessageRecipient, register } from "jamsocket";
export * from "jamsocket/exports";

/** A counter per room, changed by `increment` / `decrement` and broadcast on every message. */
class SharedCounterServer extends JamsocketService {
  private value: i32 = 0;

  message(client: u32, message: string): void {
    if (message == "increment") this.value++;
    else if (message == "decrement") this.value--;
    this.ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.value}`);
  }
}

register((roomId: string) => new SharedCounterServer());
