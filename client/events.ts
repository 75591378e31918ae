/**
 * The events a `JamsocketClient` dispatches: `open`, `message`, `close` and `reconnecting`.
 *
 * @module
 */

/**
 * `open`: a connection is open. Messages queued while connecting are sent right after the
 * `open` listeners run, so what a listener sends (a greeting, a re-join) goes first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamsocketOpenEvent } from "./events.ts";
 *
 * const event = new JamsocketOpenEvent(true);
 * assert.equal(event.type, "open");
 * assert.equal(event.reconnected, true);
 * ```
 */
export class JamsocketOpenEvent extends Event {
  /** `false` for the client's first connection, `true` for every one after a reconnect. */
  readonly reconnected: boolean;

  /** An `open` event. */
  constructor(reconnected: boolean) {
    super("open");
    this.reconnected = reconnected;
  }
}

/** What a {@linkcode JamsocketCloseEvent} carries. */
export interface JamsocketCloseEventInit {
  /** The close code; an abnormal closure (no close frame, failed connection) is 1006. */
  code: number;
  /** The close reason, as the peer sent it (empty for an abnormal closure). */
  reason: string;
  /** Whether the closing handshake completed. */
  wasClean: boolean;
  /** Whether the client will reconnect (a `reconnecting` event follows) or has closed for good. */
  willReconnect: boolean;
}

/**
 * `close`: a connection ended, or a connection attempt failed. One per socket. When
 * `willReconnect` is `true` a `reconnecting` event follows; when it is `false` the client has
 * closed for good (`readyState` is `CLOSED`).
 *
 * An abnormal closure is reported as 1006 in every runtime (Deno's `WebSocket` reports 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamsocketCloseEvent } from "./events.ts";
 *
 * const event = new JamsocketCloseEvent({
 *   code: 1012,
 *   reason: "Service restart",
 *   wasClean: true,
 *   willReconnect: true,
 * });
 * assert.ok(event instanceof CloseEvent);
 * assert.equal(event.code, 1012);
 * assert.equal(event.willReconnect, true);
 * ```
 */
export class JamsocketCloseEvent extends CloseEvent {
  /** Whether the client will reconnect (a `reconnecting` event follows) or has closed for good. */
  readonly willReconnect: boolean;

  /** A `close` event. */
  constructor(init: JamsocketCloseEventInit) {
    super("close", { code: init.code, reason: init.reason, wasClean: init.wasClean });
    this.willReconnect = init.willReconnect;
  }
}

/** What a {@linkcode JamsocketReconnectingEvent} carries. */
export interface JamsocketReconnectingEventInit {
  /** Which attempt this is since the last open connection: 1, 2, … */
  attempt: number;
  /** How long the client waits before this attempt, in ms. */
  delayMs: number;
  /** The close code that caused it (1006 for a failed connection). */
  code: number;
  /** The close reason that caused it. */
  reason: string;
}

/**
 * `reconnecting`: the client will open a new connection after `delayMs`. It follows the `close`
 * event (with `willReconnect: true`) that caused it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamsocketReconnectingEvent } from "./events.ts";
 *
 * const event = new JamsocketReconnectingEvent({
 *   attempt: 1,
 *   delayMs: 120,
 *   code: 1001,
 *   reason: "Server shutting down",
 * });
 * assert.equal(event.type, "reconnecting");
 * assert.equal(event.delayMs, 120);
 * ```
 */
export class JamsocketReconnectingEvent extends Event {
  /** Which attempt this is since the last open connection: 1, 2, … */
  readonly attempt: number;
  /** How long the client waits before this attempt, in ms. */
  readonly delayMs: number;
  /** The close code that caused it (1006 for a failed connection). */
  readonly code: number;
  /** The close reason that caused it. */
  readonly reason: string;

  /** A `reconnecting` event. */
  constructor(init: JamsocketReconnectingEventInit) {
    super("reconnecting");
    this.attempt = init.attempt;
    this.delayMs = init.delayMs;
    this.code = init.code;
    this.reason = init.reason;
  }
}

/**
 * The events of a `JamsocketClient`, by type. `message` events are standard `MessageEvent`s whose
 * `data` is a `string` for a text frame and a `Uint8Array` for a binary frame.
 *
 * @example
 * ```ts
 * import type { JamsocketClientEventMap } from "./events.ts";
 *
 * function describe(event: JamsocketClientEventMap["message"]): string {
 *   return typeof event.data === "string" ? event.data : `${event.data.length} bytes`;
 * }
 * console.log(describe(new MessageEvent("message", { data: new Uint8Array(3) })));
 * ```
 */
export interface JamsocketClientEventMap {
  /** A connection is open. */
  open: JamsocketOpenEvent;
  /** A frame arrived: text as a `string`, binary as a `Uint8Array`. */
  message: MessageEvent<string | Uint8Array>;
  /** A connection ended or failed; `willReconnect` says what happens next. */
  close: JamsocketCloseEvent;
  /** A new connection will be attempted after `delayMs`. */
  reconnecting: JamsocketReconnectingEvent;
}
