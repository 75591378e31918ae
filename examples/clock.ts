/**
 * The original clock: each room arms its timer when it is created and, every 4 seconds,
 * broadcasts a tick with the room id and a counter.
 *
 * Run it: `deno run -A examples/clock.ts`, then connect to `ws://localhost:8080/ws/{room}`.
 *
 * @module
 */

import {
  type JamsocketContext,
  MessageRecipient,
  serve,
  type SimpleJamsocketService,
} from "../mod.ts";

/** How often the clock ticks, in milliseconds. */
export const TICK_MS = 4000;

/** Broadcasts "Here in room R from timer @ N" every {@linkcode TICK_MS}. */
export class ClockServer implements SimpleJamsocketService {
  readonly #roomId: string;
  readonly #tickMs: number;
  #ticks = 0;

  constructor(roomId: string, ctx: JamsocketContext, tickMs: number = TICK_MS) {
    this.#roomId = roomId;
    this.#tickMs = tickMs;
    ctx.setTimer(tickMs);
  }

  timer(ctx: JamsocketContext): void {
    ctx.sendMessage(
      MessageRecipient.Broadcast,
      `Here in room ${this.#roomId} from timer @ ${this.#ticks}`,
    );
    this.#ticks++;
    ctx.setTimer(this.#tickMs);
  }
}

export default ClockServer;

if (import.meta.main) serve(ClockServer);
