/**
 * `JamsocketClient`: a `WebSocket` that reconnects by itself, with backoff and jitter, and
 * queues what you send while it is (re)connecting.
 *
 * @module
 */

import { type Backoff, backoffDelay } from "./_backoff.ts";
import { SendQueue } from "./_send_queue.ts";
import { JamsocketClientError } from "./client_error.ts";
import {
  type JamsocketClientEventMap,
  JamsocketCloseEvent,
  JamsocketOpenEvent,
  JamsocketReconnectingEvent,
} from "./events.ts";
import { utf8Length } from "../util/utf8.ts";

/**
 * The close codes after which the client reconnects by default: 1001 (going away: the server is
 * restarting), 1006 (abnormal closure: the network or the server process went away), 1011 (the
 * room crashed), 1012 (service restart: a hot reload), 1013 (try again later) and 1014 (bad
 * gateway). A connection attempt that fails (no connection ever opened) is always retried.
 * Every other code ends the client: 1000 (closed on purpose), 1008 (policy: too fast, too slow),
 * 1009 (message too big), 1002, 1003, 1007 and the 4xxx codes servers use to refuse.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RECONNECT_CODES } from "./client.ts";
 *
 * assert.ok(RECONNECT_CODES.includes(1012));
 * assert.ok(!RECONNECT_CODES.includes(1008));
 * ```
 */
export const RECONNECT_CODES: readonly number[] = Object.freeze([
  1001,
  1006,
  1011,
  1012,
  1013,
  1014,
]);

/** Timers the client uses for reconnect delays and connect timeouts (a seam for tests). */
export interface ClientTimers {
  /** Call `callback` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancel a pending `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** Options of {@linkcode JamsocketClient}. */
export interface JamsocketClientOptions {
  /** Subprotocols to offer, as for `new WebSocket(url, protocols)`. */
  protocols?: string | string[];
  /**
   * The cap of the first reconnect delay, in ms. The cap grows by `backoffFactor` with each
   * attempt up to `maxDelayMs`; each delay is uniformly random between 0 and the cap.
   * @default {250}
   */
  initialDelayMs?: number;
  /**
   * The largest reconnect delay, in ms.
   * @default {10000}
   */
  maxDelayMs?: number;
  /**
   * How much the delay cap grows with each attempt.
   * @default {2}
   */
  backoffFactor?: number;
  /**
   * Reconnect attempts in a row (without a connection opening in between) before the client
   * gives up and closes for good. `0` never reconnects.
   * @default {Infinity}
   */
  maxAttempts?: number;
  /**
   * The close codes after which the client reconnects; see {@linkcode RECONNECT_CODES}.
   * @default {RECONNECT_CODES}
   */
  reconnectCodes?: readonly number[];
  /**
   * How long a connection attempt may take before it is abandoned (and retried), in ms. `0`
   * waits as long as the runtime does.
   * @default {10000}
   */
  connectTimeoutMs?: number;
  /**
   * Most messages queued while no connection is open; past it, `send()` throws.
   * @default {1000}
   */
  maxQueuedMessages?: number;
  /**
   * Most bytes queued while no connection is open (text counts its UTF-8 length); past it,
   * `send()` throws.
   * @default {1048576}
   */
  maxQueuedBytes?: number;
  /**
   * Where the jitter comes from: a number in `[0, 1)`.
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * The timers behind reconnect delays and connect timeouts.
   * @default {globalThis}
   */
  timers?: ClientTimers;
}

/** Options of {@linkcode JamsocketClient.room}: the client's, and a query string. */
export interface JamsocketRoomOptions extends JamsocketClientOptions {
  /** Parameters to add to the URL's query string (a token, a name). */
  query?: Record<string, string> | URLSearchParams;
}

/** A `readyState`: `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
export type JamsocketReadyState = 0 | 1 | 2 | 3;

/** What the `on…` properties hold: a function of the event, or `null`. */
export type JamsocketClientEventHandler<K extends keyof JamsocketClientEventMap> =
  | ((this: JamsocketClient, event: JamsocketClientEventMap[K]) => unknown)
  | null;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
/** The longest room id the server accepts, in UTF-8 bytes. */
const MAX_ROOM_ID_BYTES = 256;

/**
 * A WebSocket client for a Jamsocket room that reconnects by itself. It has the shape of
 * `WebSocket` — `send()`, `close()`, `readyState`, `url`, `addEventListener()` and `on…`
 * properties — with these differences:
 *
 * - **Reconnects.** When a connection closes with a code in `reconnectCodes` (1001, 1006, 1011,
 *   1012, 1013, 1014), or an attempt fails, the client waits (exponential backoff with full
 *   jitter: a random delay up to 250 ms, then 500 ms, … up to 10 s) and connects again. An open
 *   connection resets the backoff. Any other code (1000, 1008, 1009, 4xxx, …), `maxAttempts`
 *   failures in a row, or your own `close()` end the client for good. While it waits,
 *   `readyState` is `CONNECTING`. A server that refuses the upgrade (a 4xx answer) looks like a
 *   failed connection to every `WebSocket` API, so it is retried: bound it with `maxAttempts`.
 * - **Queues sends.** `send()` while not open queues the message (at most `maxQueuedMessages`
 *   messages and `maxQueuedBytes` bytes; past either, `send()` throws a
 *   {@linkcode JamsocketClientError} and queues nothing). On open, the `open` listeners run first
 *   (what they send goes out first), then the queue is sent in order. A message handed to a
 *   connection that then drops may be lost: delivery is at most once, as with any WebSocket.
 * - **Events.** `open` ({@linkcode JamsocketOpenEvent}, with `reconnected`), `message` (a
 *   `MessageEvent` whose `data` is a `string` or, for binary frames, a `Uint8Array`), `close`
 *   (one per connection, {@linkcode JamsocketCloseEvent}, with `code`, `reason` and
 *   `willReconnect`) and `reconnecting` ({@linkcode JamsocketReconnectingEvent}: `attempt`,
 *   `delayMs`, and the `code` and `reason` that caused it). No `error` events: a failure is a
 *   `close` with code 1006.
 *
 * Runs in browsers and Deno (standard `WebSocket`, `EventTarget` and timers only). Pages load it
 * as an ES module from the path `jamsocket dev` serves it at: `import { JamsocketClient } from
 * "/_jamsocket/client.js"` (see `CLIENT_SCRIPT` in `./mod.ts`).
 *
 * @example Talk to a room, and come back after the server hot-reloads it (1012)
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { JamsocketClient } from "./client.ts";
 *
 * const server = serve(class {
 *   message(client: number, text: string, ctx: { sendMessage(to: number, text: string): void }) {
 *     ctx.sendMessage(client, `echo: ${text}`);
 *   }
 * }, { hostname: "127.0.0.1", port: 0, onListen() {} });
 *
 * const client = JamsocketClient.room(`http://127.0.0.1:${server.addr.port}`, "lobby");
 * const replies: string[] = [];
 * client.onmessage = (event) => replies.push(String(event.data));
 * client.send("queued until open");
 * await new Promise((resolve) => client.addEventListener("message", resolve, { once: true }));
 *
 * const reconnected = new Promise((resolve) => client.addEventListener("open", resolve));
 * await server.handler.replaceService(class {
 *   message(client: number, text: string, ctx: { sendMessage(to: number, text: string): void }) {
 *     ctx.sendMessage(client, `v2: ${text}`);
 *   }
 * });
 * await reconnected;
 * client.send("hello again");
 * await new Promise((resolve) => client.addEventListener("message", resolve, { once: true }));
 * assert.deepEqual(replies, ["echo: queued until open", "v2: hello again"]);
 *
 * client.close();
 * await new Promise((resolve) => client.addEventListener("close", resolve, { once: true }));
 * await server.shutdown();
 * ```
 */
export class JamsocketClient extends EventTarget {
  /** The `readyState` while connecting, or waiting to reconnect. */
  static readonly CONNECTING: 0 = CONNECTING;
  /** The `readyState` while a connection is open. */
  static readonly OPEN: 1 = OPEN;
  /** The `readyState` after `close()`, until the connection has closed. */
  static readonly CLOSING: 2 = CLOSING;
  /** The `readyState` once the client has closed for good. */
  static readonly CLOSED: 3 = CLOSED;

  /** The WebSocket URL the client connects to (`ws:` or `wss:`). */
  readonly url: string;

  /** Called for each `open` event, before listeners added with `addEventListener`. */
  onopen: JamsocketClientEventHandler<"open"> = null;
  /** Called for each `message` event, before listeners added with `addEventListener`. */
  onmessage: JamsocketClientEventHandler<"message"> = null;
  /** Called for each `close` event, before listeners added with `addEventListener`. */
  onclose: JamsocketClientEventHandler<"close"> = null;
  /** Called for each `reconnecting` event, before listeners added with `addEventListener`. */
  onreconnecting: JamsocketClientEventHandler<"reconnecting"> = null;

  readonly #protocols: string | string[] | undefined;
  readonly #backoff: Backoff;
  readonly #maxAttempts: number;
  readonly #reconnectCodes: ReadonlySet<number>;
  readonly #connectTimeoutMs: number;
  readonly #random: () => number;
  readonly #timers: ClientTimers;
  readonly #queue: SendQueue;
  #socket: WebSocket | undefined;
  #state: JamsocketReadyState = CONNECTING;
  /** Reconnect attempts since the last open connection. */
  #attempt = 0;
  #everOpened = false;
  #retryTimer: unknown;
  /** The code and reason of the user's `close()`, reported in the final `close` event. */
  #userClose: { code: number; reason: string } | undefined;

  /**
   * Connect to `url` (`ws:`, `wss:`, or `http:`/`https:`, which mean the same; relative to the
   * page in a browser) and keep connected.
   *
   * @example
   * ```ts
   * import { JamsocketClient } from "./client.ts";
   *
   * const client = new JamsocketClient("ws://127.0.0.1:9/ws/lobby", { maxAttempts: 0 });
   * console.log(client.url, client.readyState); // ws://127.0.0.1:9/ws/lobby 0
   * client.close();
   * ```
   */
  constructor(url: string | URL, options: JamsocketClientOptions = {}) {
    super();
    this.url = webSocketUrl(url);
    this.#protocols = options.protocols;
    this.#backoff = {
      initialDelayMs: nonNegative(options, "initialDelayMs", 250),
      maxDelayMs: nonNegative(options, "maxDelayMs", 10_000),
      backoffFactor: nonNegative(options, "backoffFactor", 2, 1),
    };
    this.#maxAttempts = wholeNumber(options, "maxAttempts", Infinity);
    this.#reconnectCodes = new Set(options.reconnectCodes ?? RECONNECT_CODES);
    this.#connectTimeoutMs = nonNegative(options, "connectTimeoutMs", 10_000);
    this.#queue = new SendQueue(
      wholeNumber(options, "maxQueuedMessages", 1000),
      wholeNumber(options, "maxQueuedBytes", 1_048_576),
    );
    this.#random = options.random ?? Math.random;
    this.#timers = options.timers ?? {
      setTimeout: (callback, ms) => setTimeout(callback, ms),
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    for (const type of ["open", "message", "close", "reconnecting"] as const) {
      super.addEventListener(type, (event) => {
        const handler = this[`on${type}`] as ((event: Event) => unknown) | null;
        handler?.call(this, event);
      });
    }
    this.#connect();
  }

  /**
   * A client for room `roomId` of the server at `base` (`http://host:port`, or with the path a
   * handler is mounted under: `https://example.com/chat`): connects to `{base}/ws/{roomId}`, with
   * the id percent-encoded and `options.query` added to the query string.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { JamsocketClient } from "./client.ts";
   *
   * const client = JamsocketClient.room("http://127.0.0.1:9/chat", "my room", {
   *   query: { token: "s3cret" },
   *   maxAttempts: 0,
   * });
   * assert.equal(client.url, "ws://127.0.0.1:9/chat/ws/my%20room?token=s3cret");
   * client.close();
   * ```
   */
  static room(
    base: string | URL,
    roomId: string,
    options: JamsocketRoomOptions = {},
  ): JamsocketClient {
    return new JamsocketClient(roomUrl(base, roomId, options.query), options);
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3), as for `WebSocket`. */
  get readyState(): JamsocketReadyState {
    return this.#state;
  }

  /** The subprotocol the server picked for the open connection, or `""`. */
  get protocol(): string {
    return this.#state === OPEN ? this.#socket?.protocol ?? "" : "";
  }

  /** Bytes waiting to go out: those queued while connecting plus the open socket's. */
  get bufferedAmount(): number {
    return this.#queue.bytes + (this.#socket?.bufferedAmount ?? 0);
  }

  /**
   * Send text or bytes. While a connection is open it goes out at once; otherwise it is queued
   * (bytes are copied) and sent, in order, when a connection opens.
   *
   * @throws {JamsocketClientError} `kind: "queue-full"` when the message does not fit in the
   * queue, `kind: "closed"` once the client has closed for good.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { JamsocketClient } from "./client.ts";
   *
   * const client = new JamsocketClient("ws://127.0.0.1:9/ws/a", {
   *   maxAttempts: 0,
   *   maxQueuedMessages: 1,
   * });
   * client.send("one"); // queued: nothing is open yet
   * assert.throws(() => client.send("two"), /maxQueuedMessages/);
   * client.close();
   * ```
   */
  send(data: string | ArrayBuffer | ArrayBufferView<ArrayBuffer>): void {
    if (this.#state === CLOSING || this.#state === CLOSED) {
      throw new JamsocketClientError("closed", "Cannot send: the client is closed");
    }
    if (typeof data !== "string" && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      throw new TypeError(
        `Cannot send ${describe(data)}: expected a string, an ArrayBuffer or a typed array`,
      );
    }
    if (this.#state === OPEN && this.#socket) this.#socket.send(data);
    else this.#queue.push(data);
  }

  /**
   * Close for good: stop reconnecting, drop queued messages, close the connection with `code`
   * (1000 or 3000–4999) and `reason` (at most 123 UTF-8 bytes). The final `close` event carries
   * this code and reason. Calling it again does nothing.
   *
   * @example
   * ```ts
   * import { JamsocketClient } from "./client.ts";
   *
   * const client = new JamsocketClient("ws://127.0.0.1:9/ws/a");
   * client.onclose = (event) => console.log(event.code, event.willReconnect); // 4000 false
   * client.close(4000, "done");
   * await new Promise((resolve) => client.addEventListener("close", resolve));
   * ```
   */
  close(code: number = 1000, reason: string = ""): void {
    if (code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new RangeError(`Invalid close code ${code}: expected 1000 or 3000–4999`);
    }
    if (utf8Length(reason) > 123) {
      throw new RangeError(`Invalid close reason: longer than 123 UTF-8 bytes`);
    }
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    this.#userClose = { code, reason };
    this.#queue.drain();
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#socket) {
      this.#state = CLOSING;
      this.#socket.close(code, reason);
    } else {
      this.#state = CLOSED;
      queueMicrotask(() => this.#dispatchFinalClose(true));
    }
  }

  /** Listen for `open`, `message`, `close` or `reconnecting`, with typed events. */
  override addEventListener<K extends keyof JamsocketClientEventMap>(
    type: K,
    listener: (this: JamsocketClient, event: JamsocketClientEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Listen for any event type. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /** Stop listening, with typed events. */
  override removeEventListener<K extends keyof JamsocketClientEventMap>(
    type: K,
    listener: (this: JamsocketClient, event: JamsocketClientEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Stop listening for any event type. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  #connect(): void {
    const socket = new WebSocket(this.url, this.#protocols);
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    let opened = false;
    let timedOut = false;
    let connectTimer: unknown;
    if (this.#connectTimeoutMs > 0) {
      connectTimer = this.#timers.setTimeout(() => {
        timedOut = true;
        socket.close();
      }, this.#connectTimeoutMs);
    }
    socket.onopen = () => {
      this.#timers.clearTimeout(connectTimer);
      if (this.#state !== CONNECTING) return; // closed by the user meanwhile
      opened = true;
      this.#attempt = 0;
      this.#state = OPEN;
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.dispatchEvent(new JamsocketOpenEvent(reconnected));
      if (this.#state !== OPEN || this.#socket !== socket) return;
      for (const data of this.#queue.drain()) socket.send(data);
    };
    socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
      if (this.#socket !== socket) return;
      const data = typeof event.data === "string" ? event.data : new Uint8Array(event.data);
      this.dispatchEvent(new MessageEvent("message", { data }));
    };
    socket.onclose = (event) => {
      this.#timers.clearTimeout(connectTimer);
      this.#socket = undefined;
      if (this.#userClose) return this.#dispatchFinalClose(event.wasClean);
      const code = event.code === 0 ? 1006 : event.code; // Deno reports 0 for 1006
      const reason = timedOut
        ? `Connection attempt timed out after ${this.#connectTimeoutMs} ms`
        : event.reason;
      const retry = (!opened || this.#reconnectCodes.has(code)) &&
        this.#attempt < this.#maxAttempts;
      this.#state = retry ? CONNECTING : CLOSED;
      if (!retry) this.#queue.drain();
      this.dispatchEvent(
        new JamsocketCloseEvent({ code, reason, wasClean: event.wasClean, willReconnect: retry }),
      );
      if (retry && this.#state === CONNECTING) this.#scheduleReconnect(code, reason);
    };
  }

  #scheduleReconnect(code: number, reason: string): void {
    const attempt = ++this.#attempt;
    const delayMs = backoffDelay(attempt, this.#backoff, this.#random);
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state === CONNECTING) this.#connect();
    }, delayMs);
    this.dispatchEvent(new JamsocketReconnectingEvent({ attempt, delayMs, code, reason }));
  }

  #dispatchFinalClose(wasClean: boolean): void {
    this.#state = CLOSED;
    const { code, reason } = this.#userClose!;
    this.dispatchEvent(new JamsocketCloseEvent({ code, reason, wasClean, willReconnect: false }));
  }
}

/** A short name for a value, for error messages. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "object"}`;
  return `a ${typeof value}`;
}

/** The base URL relative URLs resolve against: the page's, in a browser. */
function pageUrl(): string | undefined {
  try {
    return (globalThis as { location?: { href?: string } }).location?.href;
  } catch {
    return undefined; // Deno without --location throws on access
  }
}

function parseUrl(url: string | URL, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, pageUrl());
  } catch (error) {
    throw new TypeError(`Invalid ${what} "${url}": not a URL`, { cause: error });
  }
  const scheme = { "ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:" }[
    parsed.protocol
  ];
  if (!scheme) {
    throw new TypeError(
      `Invalid ${what} "${url}": the scheme must be ws:, wss:, http: or https:`,
    );
  }
  parsed.protocol = scheme;
  parsed.hash = "";
  return parsed;
}

function webSocketUrl(url: string | URL): string {
  return parseUrl(url, "WebSocket URL").href;
}

function roomUrl(
  base: string | URL,
  roomId: string,
  query: Record<string, string> | URLSearchParams | undefined,
): string {
  if (typeof roomId !== "string" || roomId === "") {
    throw new TypeError(`Invalid room ID ${JSON.stringify(roomId)}: expected a non-empty string`);
  }
  if (utf8Length(roomId) > MAX_ROOM_ID_BYTES) {
    throw new TypeError(`Invalid room ID: longer than ${MAX_ROOM_ID_BYTES} UTF-8 bytes`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(roomId)) {
    throw new TypeError(`Invalid room ID ${JSON.stringify(roomId)}: control characters`);
  }
  const url = parseUrl(base, "server URL");
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/ws/${encodeURIComponent(roomId)}`;
  const params = new URLSearchParams(query);
  for (const [key, value] of params) url.searchParams.append(key, value);
  return url.href;
}

function nonNegative(
  options: JamsocketClientOptions,
  name: "initialDelayMs" | "maxDelayMs" | "backoffFactor" | "connectTimeoutMs",
  fallback: number,
  least: number = 0,
): number {
  const value = options[name] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < least) {
    throw new RangeError(
      `Invalid JamsocketClient option "${name}": expected a finite number ≥ ${least}, got ${
        String(value)
      }`,
    );
  }
  return value;
}

function wholeNumber(
  options: JamsocketClientOptions,
  name: "maxAttempts" | "maxQueuedMessages" | "maxQueuedBytes",
  fallback: number,
): number {
  const value = options[name] ?? fallback;
  if (typeof value !== "number" || value < 0 || !(Number.isInteger(value) || value === Infinity)) {
    throw new RangeError(
      `Invalid JamsocketClient option "${name}": expected a whole number ≥ 0 or Infinity, got ${
        String(value)
      }`,
    );
  }
  return value;
}
