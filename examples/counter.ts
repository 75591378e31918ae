/**
 * The shared counter from the original Jamsocket README: any client in a room may send
 * `increment` or `decrement`; every change is broadcast to the room as `new value: N`.
 *
 * Run it: `deno run -A examples/counter.ts`, then connect to `ws://localhost:8080/ws/1`.
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

/** A counter per room, changed by `increment` / `decrement` and broadcast on every message. */
export class SharedCounterServer implements SimpleJamsocketService {
  #value = 0;

  constructor(_roomId: string, _ctx: JamsocketContext) {}

  message(_client: ClientId, message: string, ctx: JamsocketContext): void {
    if (message === "increment") this.#value++;
    else if (message === "decrement") this.#value--;
    ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.#value}`);
  }
}

export default SharedCounterServer;

if (import.meta.main) serve(SharedCounterServer);
