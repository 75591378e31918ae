/**
 * A room of any service — TypeScript class, factory, or WASM module — run in the test's process
 * without sockets, on a virtual clock.
 *
 * @module
 */

import { authenticate } from "../http/authenticate.ts";
import { Metrics } from "../http/metrics.ts";
import { DEFAULT_CLIENT_LIMITS } from "../room/client_limits.ts";
import { CloseCode } from "../room/close_code.ts";
import { LocalEngine } from "../room/local_engine.ts";
import { Room } from "../room/room.ts";
import type { RoomEngine, RoomEnvironment } from "../room/room_engine.ts";
import { parseShutdownPolicy, type ShutdownPolicy } from "../room/shutdown_policy.ts";
import { createServiceRuntime, type ServiceDefinition } from "../runtime/service_runtime.ts";
import type { AuthenticateHook, ClientData } from "../service.ts";
import { arrayLogger } from "../util/logger.ts";
import { FakeClient } from "./fake_client.ts";
import { VirtualClock } from "./virtual_clock.ts";

/** Options of {@linkcode TestRoom}. */
export interface TestRoomOptions {
  /** The room's id. @default {"test"} */
  roomId?: string;
  /** The clock the room's timers run on. @default {a new VirtualClock} */
  clock?: VirtualClock;
  /** The auth hook `connect` runs (else the service class's static `authenticate`). */
  authenticate?: AuthenticateHook;
  /** What happens once the room is empty. @default {"never"} */
  shutdownPolicy?: ShutdownPolicy | string;
  /**
   * Where a WASM guest reads time and randomness.
   * @default {clock.environment(): the virtual clock, and a fixed pseudo-random sequence}
   */
  environment?: RoomEnvironment;
}

/** What {@linkcode TestRoom.connect} takes. */
export interface ConnectOptions {
  /**
   * The upgrade request the auth hook sees, or its URL (`?token=…`). Ignored when `data` is given.
   * @default {"http://localhost/ws/{roomId}"}
   */
  request?: Request | string;
  /** Per-client data to connect with, instead of running the auth hook. */
  data?: ClientData;
}

/** The auth hook refused a {@linkcode TestRoom.connect}: `status` and `body` are its answer. */
export class ConnectRefusedError extends Error {
  /** The HTTP status the client would have got. */
  readonly status: number;
  /** The answer's body. */
  readonly body: string;

  /** `Connection refused with <status>: <body>`. */
  constructor(status: number, body: string) {
    super(`Connection refused with ${status}: ${body}`);
    this.name = "ConnectRefusedError";
    this.status = status;
    this.body = body;
  }
}

/**
 * One room of a service, driven by the test: connect fake clients, send text and bytes, advance
 * the virtual clock, and read what each client received, in order. Events run exactly as in a
 * server (one at a time, async hooks awaited); {@linkcode settled} waits for them without
 * sleeping, and {@linkcode advance} moves the virtual clock, firing timers in order. Close codes, `closeClient` and crashes (1011) show on the clients' `closed`; log lines
 * are kept in {@linkcode logs}.
 *
 * @example The clock example's tick, without waiting 4 seconds
 * ```ts
 * import assert from "node:assert/strict";
 * import { TestRoom } from "./test_room.ts";
 *
 * class Clock {
 *   constructor(_roomId: string, ctx: { setTimer(ms: number): void }) {
 *     ctx.setTimer(4000);
 *   }
 *   timer(ctx: { sendMessage(to: number, text: string): void; setTimer(ms: number): void }) {
 *     ctx.sendMessage(0, "tick");
 *     ctx.setTimer(4000);
 *   }
 * }
 * await using room = new TestRoom(Clock);
 * const client = await room.connect();
 * await room.advance(8000);
 * assert.deepEqual(client.take(), ["tick", "tick"]);
 * ```
 */
export class TestRoom {
  /** The room's id. */
  readonly roomId: string;
  /** The room's clock: `advance` it to fire timers. */
  readonly clock: VirtualClock;
  /** Every log line, as `"<level> <line>"`. */
  readonly logs: string[] = [];
  /** The clients connected through {@linkcode connect}, in order. */
  readonly clients: FakeClient[] = [];
  readonly #room: Room;
  readonly #engine: RoomEngine;
  readonly #authenticate: AuthenticateHook | undefined;

  /** Start a room of `service`. */
  constructor(service: ServiceDefinition, options: TestRoomOptions = {}) {
    this.roomId = options.roomId ?? "test";
    this.clock = options.clock ?? new VirtualClock();
    const logger = arrayLogger(this.logs);
    const metrics = new Metrics();
    const runtime = createServiceRuntime(service, { roomHosts: 0 }, logger, metrics);
    let engine: RoomEngine | undefined;
    const environment = options.environment ?? this.clock.environment();
    this.#room = new Room(this.roomId, (id, output) => {
      return engine = runtime.engineFactory(id, output, environment);
    }, {
      logger,
      metrics,
      limits: DEFAULT_CLIENT_LIMITS,
      clock: this.clock,
      shutdownPolicy: typeof options.shutdownPolicy === "object"
        ? options.shutdownPolicy
        : parseShutdownPolicy(options.shutdownPolicy ?? "never"),
      onClosed: () => {},
    });
    this.#engine = engine!;
    this.#authenticate = options.authenticate ??
      (service as { authenticate?: AuthenticateHook }).authenticate?.bind(service);
  }

  /** The room has closed (crashed, or destroyed by its shutdown policy). */
  get closed(): boolean {
    return this.#room.closed;
  }

  /**
   * Connect a client: runs the auth hook (unless `data` is given) with `request`, then the
   * service's `connect`. Resolves with the client once `connect` has run.
   *
   * @throws {ConnectRefusedError} when the auth hook refuses.
   */
  async connect(options: ConnectOptions = {}): Promise<FakeClient> {
    let data = options.data;
    if (data === undefined && this.#authenticate !== undefined) {
      const request = typeof options.request === "object"
        ? options.request
        : new Request(options.request ?? `http://localhost/ws/${encodeURIComponent(this.roomId)}`);
      const verdict = await authenticate(this.#authenticate, request, this.roomId, {
        timeoutMs: 10_000,
        maxDataBytes: DEFAULT_CLIENT_LIMITS.maxClientDataBytes,
        logger: arrayLogger(this.logs),
      }).catch((error) => new Response(error.message, { status: error.status ?? 500 }));
      if (verdict instanceof Response) {
        throw new ConnectRefusedError(verdict.status, await verdict.text());
      }
      data = verdict.data;
    }
    const client = new FakeClient();
    client.id = this.#room.accept(client.socket, data);
    this.clients.push(client);
    client.socket.open();
    await this.settled();
    return client;
  }

  /**
   * Move the room's clock `ms` forward: each timer fires as its time comes, and the room handles
   * it (async hooks, time-sliced WASM events included) before the clock moves on, so a timer the
   * service sets again within the window fires too.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance expects ms >= 0, got ${ms}`);
    const end = this.clock.now() + ms;
    await this.settled();
    while (true) {
      const due = this.clock.nextDue();
      if (due === undefined || due > end) break;
      this.clock.advance(due - this.clock.now());
      await this.settled();
    }
    this.clock.advance(end - this.clock.now());
  }

  /**
   * Resolves once every event so far has been handled, including async hooks' Promises. Call it
   * after sends and clock advances, before reading what clients received.
   */
  async settled(): Promise<void> {
    if (this.#engine instanceof LocalEngine) await this.#engine.idle();
  }

  /** Close the room as a server shutdown would (clients get 1001), once its events have run. */
  async close(): Promise<void> {
    await this.#room.close(CloseCode.GoingAway, "Test room closed");
  }

  /** `await using room = new TestRoom(…)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
