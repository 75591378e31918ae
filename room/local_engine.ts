/**
 * Runs a room's service in this process, one event at a time.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { LocalContext } from "./_local_context.ts";
import { RoomCrashError, type RoomEngine, type RoomOutput } from "./room_engine.ts";
import type {
  EngineRestore,
  RoomEvent,
  ServiceSnapshots,
  ServiceState,
  SnapshotEngine,
} from "./room_snapshot.ts";
import { DEFAULT_CLIENT_LIMITS } from "./client_limits.ts";
import type { InstanceSlots, SlotHolder } from "./instance_slots.ts";
import type {
  ClientData,
  ClientId,
  HookResult,
  JamsocketServiceFactory,
  SimpleJamsocketService,
} from "../service.ts";

const CONNECT = 0;
const DISCONNECT = 1;
const MESSAGE = 2;
const BINARY = 3;
const TIMER = 4;
/** Not events: a snapshot, or a hibernation, taken at its place in the queue. */
const CAPTURE = 5;
type EventKind =
  | typeof CONNECT
  | typeof DISCONNECT
  | typeof MESSAGE
  | typeof BINARY
  | typeof TIMER
  | typeof CAPTURE;
type Payload = string | Uint8Array | ClientData | Capture | undefined;

const HOOK_NAMES = ["connect", "disconnect", "message", "binary", "timer", "snapshot"] as const;

/** A snapshot asked for, waiting for its place in the queue. */
interface Capture {
  /** Free the service once captured (if no event is waiting by then). */
  readonly hibernate: boolean;
  readonly atCapture: (() => void) | undefined;
  readonly resolve: (state: ServiceState | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/** Options of {@linkcode LocalEngine}. */
export interface LocalEngineOptions {
  /**
   * Largest client data `ctx.setClientData` accepts, as JSON.
   * @default {16384}
   */
  maxClientDataBytes?: number;
  /** How the service is snapshotted and restored; without it the engine cannot snapshot. */
  snapshots?: ServiceSnapshots;
  /**
   * Start from this state instead of a fresh service. If it cannot be restored, the failure is
   * logged and the room starts fresh.
   */
  restore?: EngineRestore;
  /**
   * Take a slot here before building or restoring the service, and give it back when freeing it;
   * at the cap the engine may be told to hibernate (it needs `snapshots`).
   */
  slots?: InstanceSlots;
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
export class LocalEngine implements RoomEngine, SnapshotEngine, SlotHolder {
  /** {@linkcode InstanceSlots.use} at the latest event (with `options.slots`). */
  lastUse = 0;
  readonly #ctx: LocalContext;
  readonly #output: RoomOutput;
  readonly #logger: Logger;
  readonly #factory: JamsocketServiceFactory;
  readonly #snapshots: ServiceSnapshots | undefined;
  #service: SimpleJamsocketService | undefined;
  /** Pending events as flat triples: kind, client, payload. */
  #queue: (EventKind | ClientId | Payload)[] = [];
  #head = 0;
  /** Bytes of the text and binary messages in `#queue`. */
  #queuedBytes = 0;
  /** True while the service is being built or restored, or a hook's Promise is pending. */
  #busy = true;
  #closed = false;
  /** Events are held (see {@linkcode pause}). */
  #paused = false;
  /** The state of a hibernated service. */
  #sleeping: ServiceState | undefined;
  /** A restore from a snapshot is under way. */
  #restoring = false;
  readonly #slots: InstanceSlots | undefined;
  /** Waiting for a slot, to build or restore the service. */
  #waitingForSlot = false;
  #drained: PromiseWithResolvers<void> | undefined;

  /**
   * Build the service with `factory` (or restore it, with `options.restore`); events received
   * meanwhile wait for it.
   */
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
    this.#factory = factory;
    this.#snapshots = options.snapshots;
    this.#slots = options.slots;
    const restore = options.restore;
    this.#withSlot(() => restore !== undefined ? this.#restore(restore, true) : this.#build());
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

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get canSnapshot(): boolean {
    return this.#snapshots !== undefined;
  }

  get hibernated(): boolean {
    return this.#sleeping !== undefined;
  }

  /** Between events with a service and nothing waiting: {@linkcode evict} would free it. */
  get evictable(): boolean {
    return !this.#busy && !this.#paused && !this.#closed && this.#service !== undefined &&
      this.#snapshots !== undefined && this.pending === 0;
  }

  /** Hibernate to give the slot back (told by the slots, at their cap); resolves with whether it did. */
  evict(): Promise<boolean> {
    return this.hibernate().then((size) => size !== undefined, (error) => {
      this.#logger.warn(
        `Room "${this.#ctx.roomId}" cannot hibernate to make room: ${describeError(error)}`,
      );
      return false;
    });
  }

  snapshot(atCapture?: () => void): Promise<ServiceState> {
    return this.#capture(false, atCapture).then((state) => state!);
  }

  async hibernate(): Promise<number | undefined> {
    if (this.#sleeping !== undefined) return this.#sleeping.state.length;
    return (await this.#capture(true, undefined))?.state.length;
  }

  pause(): Promise<void> {
    this.#paused = true;
    return this.idle();
  }

  resume(): void {
    this.#paused = false;
    if (this.#busy || this.#closed || this.pending === 0) return;
    if (this.#sleeping !== undefined) return this.#wake();
    this.#busy = true;
    this.#drain();
  }

  takeHeld(): RoomEvent[] {
    const events: RoomEvent[] = [];
    const queue = this.#queue;
    for (let i = this.#head; i < queue.length; i += 3) {
      const client = queue[i + 1] as ClientId;
      const payload = queue[i + 2];
      switch (queue[i] as EventKind) {
        case CONNECT:
          events.push({ type: "connect", client, data: payload as ClientData | undefined });
          break;
        case DISCONNECT:
          events.push({ type: "disconnect", client });
          break;
        case MESSAGE:
          events.push({ type: "message", client, text: payload as string });
          break;
        case BINARY:
          events.push({ type: "binary", client, bytes: payload as Uint8Array });
          break;
        case TIMER:
          events.push({ type: "timer" });
          break;
        case CAPTURE:
          (payload as Capture).reject(new Error("The room's events were taken elsewhere"));
      }
    }
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    return events;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#paused) this.resume();
    if (this.#service !== undefined || this.#restoring) await this.idle();
    this.#dispose();
    if (this.#waitingForSlot) {
      this.#dropQueue();
      this.#settle();
    }
  }

  /**
   * Resolves once every event received so far has run, including the Promises of async hooks
   * (at once when the engine is idle, or paused between events). The test kit waits on it; no
   * timers are involved.
   */
  idle(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    this.#drained ??= Promise.withResolvers();
    return this.#drained.promise;
  }

  /** Nothing is running or waiting: wake whoever waits in {@linkcode idle}. */
  #settle(): void {
    this.#busy = false;
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
    this.#slots?.settled(this);
  }

  /** Run `start` once this engine holds a slot (at once without slots, or with one free). */
  #withSlot(start: () => void): void {
    const wait = this.#slots?.take(this);
    if (wait === undefined) return start();
    this.#busy = true;
    this.#waitingForSlot = true;
    void wait.then(() => {
      this.#waitingForSlot = false;
      if (this.#closed) this.#slots!.give(this);
      else start();
    });
  }

  /** Let a service that holds resources release them (`[Symbol.dispose]`), once. */
  #dispose(): void {
    const service = this.#service as Partial<Disposable> | undefined;
    this.#service = undefined;
    this.#slots?.give(this);
    try {
      service?.[Symbol.dispose]?.();
    } catch (error) {
      this.#logger.error(
        `Service dispose threw in room "${this.#ctx.roomId}": ${describeError(error)}`,
      );
    }
  }

  /** Build a fresh service with the factory. */
  #build(): void {
    let made: SimpleJamsocketService | Promise<SimpleJamsocketService>;
    try {
      made = this.#factory(this.#ctx.roomId, this.#ctx);
    } catch (error) {
      queueMicrotask(() => this.#constructorFailed(error));
      return;
    }
    if (made instanceof Promise) {
      made.then((service) => this.#start(service), (error) => this.#constructorFailed(error));
    } else if (this.pending === 0) {
      this.#service = made;
      this.#settle();
    } else {
      this.#start(made);
    }
  }

  #start(service: SimpleJamsocketService): void {
    this.#service = service;
    if (this.#closed) {
      this.#dispose();
      this.#dropQueue();
      this.#settle();
    } else {
      this.#drain();
    }
  }

  /**
   * Restore the service from `from`: at construction (`fresh`: a failure is logged and the room
   * starts fresh), or waking from hibernation (a failure crashes the room). Never runs service
   * code before it returns.
   */
  #restore(from: EngineRestore, fresh: boolean): void {
    const snapshots = this.#snapshots;
    const ctx = this.#ctx;
    this.#busy = true;
    this.#restoring = true;
    ctx.reset(from.state.clients, from.state.data);
    const failed = (error: unknown) => {
      this.#restoring = false;
      if (!fresh) {
        return this.#crashed(
          new RoomCrashError(
            "restore",
            `Cannot wake room "${ctx.roomId}" from its snapshot: ${describeError(error)}`,
            { cause: error },
          ),
        );
      }
      this.#logger.error(
        `Cannot restore room "${ctx.roomId}" from its snapshot: ${
          describeError(error)
        }; the room starts fresh`,
      );
      ctx.reset([], []);
      this.#build();
    };
    const restored = (service: SimpleJamsocketService) => {
      this.#restoring = false;
      this.#service = service;
      if (from.departed && from.state.clients.length > 0) {
        const leaving = from.state.clients.flatMap((client) => [DISCONNECT, client, undefined]);
        this.#queue.splice(this.#head, 0, ...(leaving as (EventKind | ClientId)[]));
      }
      if (from.timerMs !== undefined) this.#output.setTimer(from.timerMs);
      this.#drain();
    };
    let made: SimpleJamsocketService | Promise<SimpleJamsocketService>;
    try {
      if (snapshots === undefined) throw new Error("the service cannot be restored");
      if (from.state.service !== snapshots.service) {
        throw new Error(`it is of "${from.state.service}", not "${snapshots.service}"`);
      }
      made = snapshots.restore(ctx.roomId, ctx, from.state.state);
    } catch (error) {
      if (fresh) queueMicrotask(() => failed(error));
      else failed(error);
      return;
    }
    if (made instanceof Promise) made.then(restored, failed);
    else if (fresh) queueMicrotask(() => restored(made));
    else restored(made);
  }

  /** The first event after hibernation: restore the service, then run what waits. */
  #wake(): void {
    this.#withSlot(() => {
      const state = this.#sleeping!;
      this.#sleeping = undefined;
      this.#restore({ state, departed: false, timerMs: undefined }, false);
    });
  }

  /** Ask for a snapshot at this point of the queue (at once when idle or paused). */
  #capture(
    hibernate: boolean,
    atCapture: (() => void) | undefined,
  ): Promise<ServiceState | undefined> {
    if (this.#snapshots === undefined) {
      return Promise.reject(new Error("The service cannot be snapshotted"));
    }
    if (this.#closed) return Promise.reject(new Error("The room is closed"));
    const sleeping = this.#sleeping;
    if (sleeping !== undefined) {
      atCapture?.();
      return Promise.resolve(sleeping);
    }
    const { promise, resolve, reject } = Promise.withResolvers<ServiceState | undefined>();
    const request: Capture = { hibernate, atCapture, resolve, reject };
    if (this.#paused && !this.#busy) {
      // Ahead of the held events: the state at the pause.
      this.#busy = true;
      const done = this.#take(request);
      if (done instanceof Promise) void done.then(() => this.#settle());
      else this.#settle();
    } else {
      this.#dispatch(CAPTURE, 0, request);
    }
    return promise;
  }

  /** Capture the service's state for `request` (and free it, to hibernate). Never throws. */
  #take(request: Capture): void | Promise<void> {
    const ctx = this.#ctx;
    request.atCapture?.();
    const clients = [...ctx.clients];
    const data = [...ctx.data];
    const done = (state: Uint8Array) => {
      const captured: ServiceState = { service: this.#snapshots!.service, clients, data, state };
      if (!request.hibernate) return request.resolve(captured);
      if (this.pending > 0 || this.#paused || this.#closed) return request.resolve(undefined);
      this.#dispose();
      this.#sleeping = captured;
      request.resolve(captured);
    };
    let state: Uint8Array | Promise<Uint8Array>;
    try {
      state = this.#snapshots!.capture(this.#service!, ctx);
    } catch (error) {
      return request.reject(error);
    }
    if (state instanceof Promise) return state.then(done, request.reject);
    done(state);
  }

  #constructorFailed(error: unknown): void {
    const crash = error instanceof RoomCrashError ? error : new RoomCrashError(
      "constructor",
      `Service constructor failed in room "${this.#ctx.roomId}": ${describeError(error)}`,
      { cause: error },
    );
    this.#crashed(crash);
  }

  /** The room cannot go on: drop what waits, and report the crash. */
  #crashed(error: RoomCrashError): void {
    this.#closed = true;
    this.#dropQueue();
    this.#output.crash(error);
    this.#settle();
  }

  /** Forget the queued events; snapshots asked for fail. */
  #dropQueue(): void {
    const queue = this.#queue;
    for (let i = this.#head; i < queue.length; i += 3) {
      if (queue[i] === CAPTURE) (queue[i + 2] as Capture).reject(new Error("The room closed"));
    }
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  #dispatch(kind: EventKind, client: ClientId, payload: Payload): void {
    if (this.#closed) return;
    if (this.#slots !== undefined) this.lastUse = this.#slots.use();
    if (this.#busy || this.#paused || this.#sleeping !== undefined) {
      this.#queue.push(kind, client, payload);
      this.#queuedBytes += payloadBytes(payload);
      if (this.#sleeping !== undefined && !this.#busy && !this.#paused) this.#wake();
      return;
    }
    this.#busy = true;
    if (this.#run(kind, client, payload)) this.#drain();
  }

  /** Run queued events until one goes async, the queue is empty, the room crashes or pauses. */
  #drain(): void {
    const queue = this.#queue;
    while (this.#head < queue.length) {
      if (this.#paused) return this.#settle();
      const kind = queue[this.#head] as EventKind;
      const client = queue[this.#head + 1] as ClientId;
      const payload = queue[this.#head + 2] as Payload;
      this.#head += 3;
      this.#queuedBytes -= payloadBytes(payload);
      if (!this.#run(kind, client, payload)) return;
    }
    queue.length = 0;
    this.#head = 0;
    this.#settle();
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
        const at = ctx.clients.indexOf(client);
        if (at >= 0) ctx.clients.splice(at, 1);
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
      case CAPTURE:
        return this.#take(payload as Capture);
    }
  }

  /** Handle a hook's failure. Returns false when the room crashed and must stop. */
  #failed(error: unknown, kind: EventKind, client: ClientId): boolean {
    if (error instanceof RoomCrashError) {
      this.#crashed(error);
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

/** What a queued event's payload holds, as counted for `queuedBytes`: text and binary messages. */
function payloadBytes(payload: Payload): number {
  if (typeof payload === "string") return payload.length;
  return payload instanceof Uint8Array ? payload.byteLength : 0;
}
