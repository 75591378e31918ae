/**
 * The service API: what a Jamsocket service implements and what it may call.
 *
 * These types mirror the original Rust `jamsocket` crate's `SimpleJamsocketService` and
 * `JamsocketContext` traits, in TypeScript idiom.
 *
 * @module
 */

/**
 * A client's id within its room. Ids start at 1 in each room and are never reused while the room
 * lives. `0` is reserved for {@linkcode MessageRecipient.Broadcast}.
 */
export type ClientId = number;

/**
 * Special message recipients. A recipient is a {@linkcode ClientId}, `MessageRecipient.Broadcast`
 * (every client in the room), encoded as `0` exactly as the original crate's `encode_u32` does so
 * WASM guests and TypeScript services agree, or everyone but one client
 * (`MessageRecipient.everyoneExcept(client)`, Stateroom's `EveryoneExcept`), encoded as the
 * negative client id.
 *
 * @example Broadcast to the room, or to all but the sender
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageRecipient } from "./service.ts";
 *
 * assert.equal(MessageRecipient.Broadcast, 0);
 * assert.equal(MessageRecipient.everyoneExcept(3), -3);
 * ```
 */
export const MessageRecipient: {
  /** Every client currently in the room. */
  readonly Broadcast: 0;
  /** Every client currently in the room but `client`. */
  everyoneExcept(client: ClientId): ClientId;
} = {
  /** Every client currently in the room. */
  Broadcast: 0,
  /** Every client currently in the room but `client` (the sender of a chat line, say). */
  everyoneExcept(client: ClientId): ClientId {
    return -client;
  },
};

/**
 * Who a message goes to: one client, `MessageRecipient.Broadcast` (`0`) for the whole room, or
 * `MessageRecipient.everyoneExcept(client)` (`-client`) for all but one.
 */
export type MessageRecipient = ClientId | 0;

/**
 * What an auth hook may attach to a client, and what `ctx.clientData(client)` returns: a value
 * that survives `JSON.stringify` (objects, arrays, strings, finite numbers, booleans, null). It is
 * checked and copied when it is set, so later changes to the object you passed are not seen;
 * functions, `undefined`, symbols, BigInt, cycles and non-finite numbers are refused at run time.
 * (The type accepts any object so that your own interfaces fit.)
 */
export type ClientData = null | boolean | number | string | object;

/**
 * What a service may do in its room. One context is handed to the constructor and to every hook.
 *
 * @example A service that greets each client and ticks every second
 * ```ts
 * import type { ClientId, JamsocketContext, SimpleJamsocketService } from "./service.ts";
 * import { MessageRecipient } from "./service.ts";
 *
 * class Greeter implements SimpleJamsocketService {
 *   constructor(_roomId: string, ctx: JamsocketContext) {
 *     ctx.setTimer(1000);
 *   }
 *   connect(client: ClientId, ctx: JamsocketContext) {
 *     ctx.sendMessage(client, `welcome to ${ctx.roomId}`);
 *   }
 *   timer(ctx: JamsocketContext) {
 *     ctx.sendMessage(MessageRecipient.Broadcast, "tick");
 *     ctx.setTimer(1000);
 *   }
 * }
 * ```
 */
export interface JamsocketContext {
  /** The id of the room this service instance serves. */
  readonly roomId: string;
  /** The clients the service has seen connect and not yet seen disconnect, in join order. */
  readonly clients: readonly ClientId[];
  /** Send a text frame to one client or to the whole room. Sends to departed clients are dropped. */
  sendMessage(recipient: MessageRecipient, message: string): void;
  /** Send a binary frame to one client or to the whole room. */
  sendBinary(recipient: MessageRecipient, message: Uint8Array): void;
  /**
   * The data the auth hook accepted `client` with (or `setClientData` set since), or `undefined`
   * for a client without data or not in the room.
   */
  clientData<T extends ClientData = ClientData>(client: ClientId): T | undefined;
  /**
   * Replace `client`'s data (a nickname, a score). JSON-serialisable and at most the server's
   * `maxClientDataBytes` as JSON; it is copied.
   *
   * @throws {TypeError} the value is not JSON-serialisable. @throws {RangeError} it is too large.
   */
  setClientData(client: ClientId, data: ClientData): void;
  /**
   * Close one client's connection with `code` (1000, or 3000–4999 for your own meanings) and a
   * `reason` (at most 123 bytes). Its `disconnect` hook runs as usual. A client that has already
   * left is ignored.
   */
  closeClient(client: ClientId, code?: number, reason?: string): void;
  /**
   * Arm the room's one timer: `timer()` runs once after `ms` milliseconds. A second call replaces
   * the outstanding timer; the timer dies with the room.
   */
  setTimer(ms: number): void;
}

/** What a hook returns: nothing, or a Promise the room awaits before its next event. */
export type HookResult = void | Promise<void>;

/**
 * A service's own state, as its `snapshot()` hook returns it and its static `restore()` receives
 * it: a value that survives `JSON.stringify` (checked when it is taken, as client data is).
 */
export type SavedState = null | boolean | number | string | object;

/**
 * A room's service. Every hook is optional; a hook may return a Promise, and the room awaits it
 * before handling its next event. An exception in a hook is logged with the room and client id
 * and the room goes on.
 *
 * @example The shared counter from the original README
 * ```ts
 * import { type ClientId, type JamsocketContext, MessageRecipient, type SimpleJamsocketService } from "./service.ts";
 *
 * class SharedCounterServer implements SimpleJamsocketService {
 *   #value = 0;
 *   message(_client: ClientId, message: string, ctx: JamsocketContext) {
 *     if (message === "increment") this.#value++;
 *     else if (message === "decrement") this.#value--;
 *     ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.#value}`);
 *   }
 * }
 * ```
 */
export interface SimpleJamsocketService {
  /** A client joined the room. */
  connect?(client: ClientId, ctx: JamsocketContext): HookResult;
  /** A client left the room. */
  disconnect?(client: ClientId, ctx: JamsocketContext): HookResult;
  /** A client sent a text frame. */
  message?(client: ClientId, message: string, ctx: JamsocketContext): HookResult;
  /** A client sent a binary frame. */
  binary?(client: ClientId, message: Uint8Array, ctx: JamsocketContext): HookResult;
  /** The timer armed with {@linkcode JamsocketContext.setTimer} fired. */
  timer?(ctx: JamsocketContext): HookResult;
  /**
   * The room's state, for a snapshot (with the class's static `restore`, see
   * {@linkcode JamsocketServiceClass}): what `restore` needs to build this service again, as a
   * JSON-serialisable value. It runs between two events, like a hook; it may be async. The room
   * keeps the clients, their data, the next client id and the timer itself: return only the
   * service's own fields. A service without it (or without `restore`) cannot hibernate,
   * persist across restarts or keep its state across a dev reload; it runs as before.
   */
  snapshot?(ctx: JamsocketContext): SavedState | Promise<SavedState>;
}

/**
 * A service class's static `restore`: build the service again from what its `snapshot()`
 * returned (a copy, parsed from JSON), instead of the constructor. `ctx.clients` and
 * `ctx.clientData` already hold the clients the room had; do not send from here (a hibernated
 * room's clients are still connected and would see it). If it throws, the room starts fresh from
 * the constructor (after a restart or a reload), or crashes with 1011 (waking from hibernation).
 *
 * @example A counter that survives restarts, hibernation and dev reloads
 * ```ts
 * import type { JamsocketContext, SavedState } from "./service.ts";
 *
 * class Counter {
 *   value = 0;
 *   static restore(_roomId: string, _ctx: JamsocketContext, state: SavedState): Counter {
 *     const counter = new Counter();
 *     counter.value = (state as { value: number }).value;
 *     return counter;
 *   }
 *   snapshot(): SavedState {
 *     return { value: this.value };
 *   }
 *   message(_client: number, text: string, ctx: JamsocketContext) {
 *     if (text === "increment") this.value++;
 *     ctx.sendMessage(0, `new value: ${this.value}`);
 *   }
 * }
 * ```
 */
export type RestoreHook = (
  roomId: string,
  ctx: JamsocketContext,
  state: SavedState,
) => SimpleJamsocketService | Promise<SimpleJamsocketService>;

/**
 * What an auth hook answers: a `Response` refuses the client with it (401, 403, a redirect…);
 * `false` refuses it with 403; `true` or `undefined` accepts it without data; anything else accepts
 * it with that value as its {@linkcode ClientData}. To refuse with a status and a one-line
 * reason, the hook may also throw an error with a `status` (e.g. `HttpError`).
 */
export type AuthResult = Response | ClientData | undefined;

/**
 * The auth hook: runs for each WebSocket upgrade before any room is created, with the `Request`
 * (headers, cookies, query) and the room id. It may be `async`; it runs with a timeout.
 *
 * @example Accept clients with a token, and name them
 * ```ts
 * import type { AuthenticateHook } from "./service.ts";
 *
 * const authenticate: AuthenticateHook = (request, _roomId) => {
 *   const token = new URL(request.url).searchParams.get("token");
 *   if (token !== "s3cret") return new Response("Bad token", { status: 401 });
 *   return { name: new URL(request.url).searchParams.get("name") ?? "anonymous" };
 * };
 * ```
 */
export type AuthenticateHook = (
  request: Request,
  roomId: string,
) => AuthResult | Promise<AuthResult>;

/**
 * A service class: constructed once per room with the room id and the room's context, like the
 * original crate's `new(room_id, ctx)`. It may have a static `authenticate` hook
 * ({@linkcode AuthenticateHook}), and a static `restore` ({@linkcode RestoreHook}) that, with the
 * instances' `snapshot()`, lets its rooms be snapshotted.
 *
 * @example
 * ```ts
 * import type { JamsocketServiceClass } from "./service.ts";
 *
 * const Silent: JamsocketServiceClass = class {};
 * ```
 */
export type JamsocketServiceClass =
  & (new (
    roomId: string,
    ctx: JamsocketContext,
  ) => SimpleJamsocketService)
  & { authenticate?: AuthenticateHook; restore?: RestoreHook };

/**
 * A service factory: called once per room. It may be async; the room's first events wait for it.
 * Like a class, it may carry a `restore` property ({@linkcode RestoreHook}) for services with a
 * `snapshot()` hook.
 *
 * @example
 * ```ts
 * import type { JamsocketServiceFactory } from "./service.ts";
 *
 * const echo: JamsocketServiceFactory = () => ({
 *   message: (client, text, ctx) => ctx.sendMessage(client, text),
 * });
 * ```
 */
export type JamsocketServiceFactory = (
  roomId: string,
  ctx: JamsocketContext,
) => SimpleJamsocketService | Promise<SimpleJamsocketService>;

/**
 * Turn a service class or factory into a factory.
 *
 * @example
 * ```ts
 * import { toServiceFactory } from "./service.ts";
 *
 * const factory = toServiceFactory(class {});
 * ```
 */
export function toServiceFactory(
  service: JamsocketServiceClass | JamsocketServiceFactory,
): JamsocketServiceFactory {
  if (isServiceClass(service)) return (roomId, ctx) => new service(roomId, ctx);
  return service as JamsocketServiceFactory;
}

/**
 * True when `fn` is a class (constructed with `new`), not a factory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isServiceClass } from "./service.ts";
 *
 * assert.equal(isServiceClass(class {}), true);
 * assert.equal(isServiceClass(() => ({})), false);
 * ```
 */
export function isServiceClass(fn: unknown): fn is JamsocketServiceClass {
  return typeof fn === "function" && /^class\b/.test(Function.prototype.toString.call(fn));
}
