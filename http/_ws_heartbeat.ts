/**
 * Heartbeat timers for many sockets: one interval per idle timeout, ticking every eighth of it
 * (10 ms to 1 s), visits every socket with that timeout; a socket holds no timer of its own.
 *
 * @module
 */

/** {@linkcode Beating} method: a tick of the socket's heartbeat, at `now` (ms since the epoch). */
export const onBeat: unique symbol = Symbol("onBeat");

/** What a heartbeat visits. */
export interface Beating {
  /** Look at how long the client has been silent: ping it, or close it. */
  [onBeat](now: number): void;
}

/** The heartbeat intervals of one server. */
export class Heartbeats {
  readonly #groups = new Map<
    number,
    { members: Set<Beating>; timer: ReturnType<typeof setInterval> }
  >();

  /** Visit `member` every tick of the interval for `idleMs`. */
  add(member: Beating, idleMs: number): void {
    let group = this.#groups.get(idleMs);
    if (group === undefined) {
      const members = new Set<Beating>();
      const tick = Math.min(1000, Math.max(10, idleMs / 8));
      const timer = setInterval(() => {
        const now = Date.now();
        for (const beating of members) beating[onBeat](now);
      }, tick);
      group = { members, timer };
      this.#groups.set(idleMs, group);
    }
    group.members.add(member);
  }

  /** Stop visiting `member`; the interval stops with its last member. */
  delete(member: Beating, idleMs: number): void {
    const group = this.#groups.get(idleMs);
    if (group === undefined || !group.members.delete(member) || group.members.size > 0) return;
    clearInterval(group.timer);
    this.#groups.delete(idleMs);
  }
}
