/**
 * A room between two events, as data: what its engine captures of the service (the service's
 * own state, and the clients it has seen with their data) and what the room itself keeps (the
 * next client id, the timer). Snapshots give hibernation, persistence across restarts and moves
 * between nodes; `snapshot/` stores them.
 *
 * @module
 */

import type { ClientData, ClientId, JamsocketContext, SimpleJamsocketService } from "../service.ts";

/** A service's state between two events, as its engine captured it. */
export interface ServiceState {
  /**
   * Which service wrote it: `wasm:sha256:<hex>` for a WASM module (of the bytes as loaded),
   * `ts:<name>` for a TypeScript service. It restores only into the same.
   */
  readonly service: string;
  /** The clients the service had seen connect and not yet leave, in join order. */
  readonly clients: readonly ClientId[];
  /** The data of those clients that have some. */
  readonly data: readonly (readonly [ClientId, ClientData])[];
  /** The service's own state: a WASM guest's memory and globals, a TypeScript service's JSON. */
  readonly state: Uint8Array;
}

/** A whole room between two events: its bookkeeping and its service's state. */
export interface RoomSnapshot {
  /** The room's id. */
  readonly roomId: string;
  /** The id the room's next client gets (ids are never reused while a room lives). */
  readonly nextClientId: ClientId;
  /** Milliseconds until the room's timer fires, when it is armed. */
  readonly timerMs: number | undefined;
  /** When the snapshot was taken (`Date.now()`): a restored timer counts the time since. */
  readonly takenAt: number;
  /** The service's state. */
  readonly service: ServiceState;
}

/** What an engine starts from instead of a fresh service. */
export interface EngineRestore {
  /** The service's state. */
  readonly state: ServiceState;
  /**
   * The state's clients are gone (the room comes back after a restart, without them): once
   * restored, the service hears each of them leave (`disconnect`, in join order) before anything
   * else.
   */
  readonly departed: boolean;
  /** Milliseconds to re-arm the room's timer with once restored, when it was armed. */
  readonly timerMs: number | undefined;
}

/**
 * How one service is snapshotted and restored: a WASM module's guest state, or a TypeScript
 * service's `snapshot()` and static `restore()` hooks.
 */
export interface ServiceSnapshots {
  /** The service's identity, as {@linkcode ServiceState.service} holds it. */
  readonly service: string;
  /** Capture `service`'s own state (between events). */
  capture(service: SimpleJamsocketService, ctx: JamsocketContext): Uint8Array | Promise<Uint8Array>;
  /** Check state bytes before a restore is tried. @throws {Error} with a one-line reason. */
  check(state: Uint8Array): void;
  /** Build the service from its state; `ctx` already knows its clients and their data. */
  restore(
    roomId: string,
    ctx: JamsocketContext,
    state: Uint8Array,
  ): SimpleJamsocketService | Promise<SimpleJamsocketService>;
}

/** What a room's engine does with snapshots, when it can (in-process engines). */
export interface SnapshotEngine {
  /** The service can be snapshotted (it has the hooks, or is a WASM module that allows it). */
  readonly canSnapshot: boolean;
  /**
   * Capture the service's state between events, in arrival order: after every event received so
   * far, before any received later. `atCapture` runs at that very point (the room reads its own
   * bookkeeping there). A hibernated engine answers with its saved state at once.
   *
   * @throws {Error} (rejects) when the service cannot be snapshotted.
   */
  snapshot(atCapture?: () => void): Promise<ServiceState>;
  /**
   * Snapshot the service and free it, if no event is waiting then; the next event restores it
   * first. Resolves with the state's size in bytes, or undefined when it did not hibernate.
   */
  hibernate(): Promise<number | undefined>;
  /** The service is freed, its state saved; the next event restores it. */
  readonly hibernated: boolean;
  /**
   * Hold every event not yet started (they queue); resolves once the event running now, if any,
   * is done. A snapshot taken while paused captures the state at the pause, ahead of the held
   * events.
   */
  pause(): Promise<void>;
  /** Run the held events, and the later ones, again. */
  resume(): void;
  /** Take the held events out of a paused engine (to run them elsewhere), in arrival order. */
  takeHeld(): RoomEvent[];
}

/** An event into a room's service, as {@linkcode SnapshotEngine.takeHeld} hands it over. */
export type RoomEvent =
  | { readonly type: "connect"; readonly client: ClientId; readonly data: ClientData | undefined }
  | { readonly type: "disconnect"; readonly client: ClientId }
  | { readonly type: "message"; readonly client: ClientId; readonly text: string }
  | { readonly type: "binary"; readonly client: ClientId; readonly bytes: Uint8Array }
  | { readonly type: "timer" };

/**
 * The engine's snapshot side, when it has one and its service can be snapshotted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotEngine } from "./room_snapshot.ts";
 *
 * assert.equal(snapshotEngine({}), undefined);
 * ```
 */
export function snapshotEngine(engine: object): SnapshotEngine | undefined {
  const candidate = engine as Partial<SnapshotEngine>;
  return candidate.canSnapshot === true ? candidate as SnapshotEngine : undefined;
}

/** What takes a room's events: a `RoomEngine`. */
export interface EventSink {
  /** A client joined. */
  connect(client: ClientId, data?: ClientData): void;
  /** A client left. */
  disconnect(client: ClientId): void;
  /** A text frame. */
  message(client: ClientId, text: string): void;
  /** A binary frame. */
  binary(client: ClientId, bytes: Uint8Array): void;
  /** The timer fired. */
  timer(): void;
}

/**
 * Hand `events` (from {@linkcode SnapshotEngine.takeHeld}) to `engine`, in order: how a room that
 * moved runs what arrived while it was paused.
 *
 * @example
 * ```ts
 * import { replayEvents } from "./room_snapshot.ts";
 *
 * const seen: string[] = [];
 * const sink = {
 *   connect() {},
 *   disconnect() {},
 *   message: (client: number, text: string) => void seen.push(`${client}:${text}`),
 *   binary() {},
 *   timer() {},
 * };
 * replayEvents(sink, [{ type: "message", client: 1, text: "hi" }]);
 * ```
 */
export function replayEvents(engine: EventSink, events: readonly RoomEvent[]): void {
  for (const event of events) {
    switch (event.type) {
      case "connect":
        engine.connect(event.client, event.data);
        break;
      case "disconnect":
        engine.disconnect(event.client);
        break;
      case "message":
        engine.message(event.client, event.text);
        break;
      case "binary":
        engine.binary(event.client, event.bytes);
        break;
      case "timer":
        engine.timer();
    }
  }
}

/**
 * The snapshot side of an engine that wraps another (recording, fencing): every call goes to the
 * inner engine's, when it has one. Extend it and implement the events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SnapshotForwarding } from "./room_snapshot.ts";
 *
 * class Wrapper extends SnapshotForwarding {}
 * assert.equal(new Wrapper({}).canSnapshot, false);
 * ```
 */
export class SnapshotForwarding implements SnapshotEngine {
  readonly #inner: SnapshotEngine | undefined;

  /** Forward to `inner`'s snapshot side. */
  constructor(inner: object) {
    this.#inner = snapshotEngine(inner);
  }

  get canSnapshot(): boolean {
    return this.#inner !== undefined;
  }
  get hibernated(): boolean {
    return this.#inner?.hibernated ?? false;
  }
  snapshot(atCapture?: () => void): Promise<ServiceState> {
    return this.#inner!.snapshot(atCapture);
  }
  hibernate(): Promise<number | undefined> {
    return this.#inner!.hibernate();
  }
  pause(): Promise<void> {
    return this.#inner!.pause();
  }
  resume(): void {
    this.#inner!.resume();
  }
  takeHeld(): RoomEvent[] {
    return this.#inner!.takeHeld();
  }
}
