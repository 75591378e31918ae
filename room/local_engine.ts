/**
 * Runs a room's service in this process, one event at a time.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { RoomCrashError, type RoomEngine, type RoomOutput } from "./room_engine.ts";
import { copyJsonValue } from "../util/json_value.ts";
import { DEFAULT_CLIENT_LIMITS } from "./client_limits.ts";
import { closeReason } from "./close_code.ts";
import type {
  ClientData,
  ClientId,
  HookResult,
  JamsocketContext,
  JamsocketServiceFactory,
  MessageRecipient,
  SimpleJamsocketService,
} from "../service.ts";

const CONNECT = 0;
const DISCONNECT = 1;
const MESSAGE = 2;
const BINARY = 3;
const TIMER = 4;
type EventKind = typeof CONNECT | typeof DISCONNECT | typeof MESSAGE | typeof BINARY | typeof TIMER;
type Payload = string | Uint8Array | ClientData | undefined;

const HOOK_NAMES = ["connect", "disconnect", "message", "binary", "timer"] as const;

/** The longest timer `setTimeout` can hold (2^31 - 1 ms); longer requests are clamped. */
const MAX_TIMER_MS = 0x7fffffff;

/** Options of {@linkcode LocalEngine}. */
export interface LocalEngineOptions {
  /**
   * Largest client data `ctx.setClientData` accepts, as JSON.
   * @default {16384}
   */
  maxClientDataBytes?: number;
}

class LocalContext implements JamsocketContext {
  readonly roomId: string;
  readonly clients: ClientId[] = [];
  /** Data of the clients that have it, set at connect and by `setClientData`. */
  readonly data = new Map<ClientId, ClientData>();
  readonly #output: RoomOutput;
  readonly #maxDataBytes: number;

  constructor(roomId: string, output: RoomOutput, maxDataBytes: number) {
    this.roomId = roomId;
    this.#output = output;
    this.#maxDataBytes = maxDataBytes;
  }

  clientData<T extends ClientData = ClientData>(client: ClientId): T | undefined {
    return this.data.get(client) as T | undefined;
  }

  setClientData(client: ClientId, data: ClientData): void {
    if (!this.clients.includes(client)) return;
    this.data.set(client, copyJsonValue(data, this.#maxDataBytes) as ClientData);
  }

  closeClient(client: ClientId, code = 1000, reason = ""): void {
    if (code !== 1000 && !(code >= 3000 && code <= 4999 && Number.isInteger(code))) {
      throw new RangeError(`closeClient expects code 1000 or 3000-4999, got ${code}`);
    }
    this.#output.closeClient(client, code, closeReason(String(reason)));
  }

  sendMessage(recipient: MessageRecipient, message: string): void {
    if (typeof message !== "string") {
      throw new TypeError(`sendMessage expects a string, got ${typeof message}`);
    }
    this.#output.send(recipient, message);
  }

  sendBinary(recipient: MessageRecipient, message: Uint8Array): void {
    if (!(message instanceof Uint8Array)) {
      throw new TypeError(`sendBinary expects a Uint8Array, got ${typeof message}`);
    }
    this.#output.send(recipient, message);
  }

  setTimer(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`setTimer expects a number of ms >= 0, got ${ms}`);
    this.#output.setTimer(Math.min(ms, MAX_TIMER_MS));
  }
}

/**
 * A {@linkcode RoomEngine} that runs a service in this process. Events queue while a hook's
 * Promise is pending, and run in arrival order; a hook that returns nothing runs synchronously,
 * with no microtask in between. An exception in a hook is logged and the room goes on; a
 * {@linkcode RoomCrashError} (a WASM trap) crashes the room.
 *
 * @example Drive a service by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalEngine } from "./local_engine.ts";
 * import { consoleLogger } from "../util/logger.ts";
 *
 * const sent: unknown[] = [];
 * const engine = new LocalEngine("lobby", () => ({
 *   message: (client, text, ctx) => ctx.sendMessage(client, text.toUpperCase()),
 * }), {
 *   send: (to, payload) => sent.push([to, payload]),
 *   closeClient() {},
 *   setTimer() {},
 *   crash() {},
 * }, consoleLogger());
 * engine.message(1, "hi");
 * await engine.close();
 * assert.deepEqual(sent, [[1, "HI"]]);
 * ```
 */
export class LocalEngine implements RoomEngine {
  readonly #ctx: LocalContext;
  readonly #output: RoomOutput;
  readonly #logger: Logger;
  #service: SimpleJamsocketService | undefined;
  /** Pending events as flat triples: kind, client, payload. */
  #queue: (EventKind | ClientId | Payload)[] = [];
  #head = 0;
  /** True while the service is being built or a hook's Promise is pending. */
  #busy = true;
  #closed = false;
  #drained: PromiseWithResolvers<void> | undefined;

  /** Build the service with `factory`; events received meanwhile wait for it. */
  constructor(
    roomId: string,
    factory: JamsocketServiceFactory,
    output: RoomOutput,
    logger: Logger,
    options: LocalEngineOptions = {},
  ) {
    this.#ctx = new LocalContext(
      roomId,
      output,
      options.maxClientDataBytes ?? DEFAULT_CLIENT_LIMITS.maxClientDataBytes,
    );
    this.#output = output;
    this.#logger = logger;
    let made: SimpleJamsocketService | Promise<SimpleJamsocketService>;
    try {
      made = factory(roomId, this.#ctx);
    } catch (error) {
      queueMicrotask(() => this.#constructorFailed(error));
      return;
    }
    if (made instanceof Promise) {
      made.then((service) => this.#start(service), (error) => this.#constructorFailed(error));
    } else {
      this.#service = made;
      this.#busy = false;
    }
  }

  connect(client: ClientId, data?: ClientData): void {
    this.#dispatch(CONNECT, client, data);
  }

  disconnect(client: ClientId): void {
    this.#dispatch(DISCONNECT, client, undefined);
  }

  message(client: ClientId, text: string): void {
    this.#dispatch(MESSAGE, client, text);
  }

  binary(client: ClientId, bytes: Uint8Array): void {
    this.#dispatch(BINARY, client, bytes);
  }

  timer(): void {
    this.#dispatch(TIMER, 0, undefined);
  }

  get pending(): number {
    return (this.#queue.length - this.#head) / 3;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#busy && this.#service !== undefined) {
      this.#drained ??= Promise.withResolvers();
      await this.#drained.promise;
    }
    this.#dispose();
  }

  /** Let a service that holds resources release them (`[Symbol.dispose]`), once. */
  #dispose(): void {
    const service = this.#service as Partial<Disposable> | undefined;
    this.#service = undefined;
    try {
      service?.[Symbol.dispose]?.();
    } catch (error) {
      this.#logger.error(
        `Service dispose threw in room "${this.#ctx.roomId}": ${describeError(error)}`,
      );
    }
  }

  #start(service: SimpleJamsocketService): void {
    this.#service = service;
    if (this.#closed) this.#dispose();
    else this.#drain();
  }

  #constructorFailed(error: unknown): void {
    this.#closed = true;
    this.#queue = [];
    const crash = error instanceof RoomCrashError ? error : new RoomCrashError(
      "constructor",
      `Service constructor failed in room "${this.#ctx.roomId}": ${describeError(error)}`,
      { cause: error },
    );
    this.#output.crash(crash);
  }

  #dispatch(kind: EventKind, client: ClientId, payload: Payload): void {
    if (this.#closed) return;
    if (this.#busy) {
      this.#queue.push(kind, client, payload);
      return;
    }
    this.#busy = true;
    if (this.#run(kind, client, payload)) this.#drain();
  }

  /** Run queued events until one goes async, the queue is empty, or the room crashes. */
  #drain(): void {
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const kind = queue[this.#head] as EventKind;
      const client = queue[this.#head + 1] as ClientId;
      const payload = queue[this.#head + 2] as Payload;
      this.#head += 3;
      if (!this.#run(kind, client, payload)) return;
    }
    queue.length = 0;
    this.#head = 0;
    this.#busy = false;
    this.#drained?.resolve();
  }

  /** Run one event. Returns false when it went async (or crashed) and the queue must wait. */
  #run(kind: EventKind, client: ClientId, payload: Payload): boolean {
    let result: HookResult;
    try {
      result = this.#invoke(kind, client, payload);
    } catch (error) {
      return this.#failed(error, kind, client);
    }
    if (result instanceof Promise) {
      result.then(
        () => this.#drain(),
        (error) => this.#failed(error, kind, client) && this.#drain(),
      );
      return false;
    }
    return true;
  }

  #invoke(kind: EventKind, client: ClientId, payload: Payload): HookResult {
    const service = this.#service!;
    const ctx = this.#ctx;
    switch (kind) {
      case CONNECT:
        ctx.clients.push(client);
        if (payload !== undefined) ctx.data.set(client, payload as ClientData);
        return service.connect?.(client, ctx);
      case DISCONNECT: {
        ctx.clients.splice(ctx.clients.indexOf(client), 1);
        const result = service.disconnect?.(client, ctx);
        if (result instanceof Promise) {
          return result.finally(() => ctx.data.delete(client));
        }
        ctx.data.delete(client);
        return result;
      }
      case MESSAGE:
        return service.message?.(client, payload as string, ctx);
      case BINARY:
        return service.binary?.(client, payload as Uint8Array, ctx);
      case TIMER:
        return service.timer?.(ctx);
    }
  }

  /** Handle a hook's failure. Returns false when the room crashed and must stop. */
  #failed(error: unknown, kind: EventKind, client: ClientId): boolean {
    if (error instanceof RoomCrashError) {
      this.#closed = true;
      this.#busy = false;
      this.#queue = [];
      this.#head = 0;
      this.#output.crash(error);
      this.#drained?.resolve();
      return false;
    }
    const who = kind === TIMER ? "" : ` (client ${client})`;
    this.#logger.error(
      `Service hook "${HOOK_NAMES[kind]}" threw in room "${this.#ctx.roomId}"${who}: ${
        describeError(error)
      }`,
    );
    return true;
  }
}
