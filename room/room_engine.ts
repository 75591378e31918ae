/**
 * The seam between a room and wherever its service runs.
 *
 * A {@linkcode Room} keeps the sockets, the client ids and the timer; a {@linkcode RoomEngine}
 * runs the service: in this process ({@linkcode LocalEngine}), or in a room host process. The
 * engine receives events and emits sends, timer requests and crashes through a
 * {@linkcode RoomOutput}.
 *
 * @module
 */

import type { ClientData, ClientId, MessageRecipient } from "../service.ts";
import type { EngineRestore } from "./room_snapshot.ts";

/** Events into a room's service, delivered one at a time in the order they are called. */
export interface RoomEngine {
  /** A client joined, with the data its auth hook accepted it with. */
  connect(client: ClientId, data?: ClientData): void;
  /** A client left. */
  disconnect(client: ClientId): void;
  /** A client sent a text frame. */
  message(client: ClientId, text: string): void;
  /** A client sent a binary frame. */
  binary(client: ClientId, bytes: Uint8Array): void;
  /** The room's timer fired. */
  timer(): void;
  /** Events received and not yet handled. */
  readonly pending: number;
  /** Bytes of the messages among them (a room refuses more past `MAX_QUEUED_BYTES`). */
  readonly queuedBytes: number;
  /** Accept no more events; resolves once the events already received have run. */
  close(): Promise<void>;
}

/** What a running service emits towards its room. */
export interface RoomOutput {
  /** Deliver a text or binary frame to one client, to all (`0`), or to all but one (`-client`). */
  send(recipient: MessageRecipient, payload: string | Uint8Array): void;
  /** Close one client's connection (the service's `ctx.closeClient`). */
  closeClient(client: ClientId, code: number, reason: string): void;
  /** (Re)arm the room's one timer. */
  setTimer(ms: number): void;
  /** The service cannot go on; the room must be closed with code 1011. */
  crash(error: RoomCrashError): void;
}

/**
 * Where a room's service reads the time and randomness (a WASM guest through WASI): the system's
 * by default; recorded by `--record`, replayed by `jamsocket replay`, virtual in the test kit.
 *
 * @example A fixed environment, as a test might use
 * ```ts
 * import type { RoomEnvironment } from "./room_engine.ts";
 *
 * const fixed: RoomEnvironment = {
 *   clock: (id) => id === 0 ? 1_767_225_600_000_000_000n : 0n,
 *   random: (bytes) => bytes.fill(4),
 * };
 * ```
 */
export interface RoomEnvironment {
  /** Nanoseconds on WASI clock `id`: 0 is the wall clock (since 1970), 1 a monotonic clock. */
  clock(id: 0 | 1): bigint;
  /** Fill `bytes` with random bytes. */
  random(bytes: Uint8Array): void;
}

/**
 * The system's time (`Date.now()`-based wall clock, `performance.now()` monotonic clock, both to
 * the microsecond) and crypto randomness.
 *
 * @example
 * ```ts
 * import { SYSTEM_ENVIRONMENT } from "./room_engine.ts";
 *
 * const bytes = new Uint8Array(8);
 * SYSTEM_ENVIRONMENT.random(bytes);
 * ```
 */
export const SYSTEM_ENVIRONMENT: RoomEnvironment = {
  clock: (id) =>
    BigInt(Math.round(
      (id === 0 ? performance.timeOrigin + performance.now() : performance.now()) *
        1000,
    )) * 1000n,
  random: (bytes) => {
    for (let i = 0; i < bytes.length; i += 65536) {
      crypto.getRandomValues(bytes.subarray(i, Math.min(bytes.length, i + 65536)));
    }
  },
};

/**
 * Builds the engine for one room, whose service reads time and randomness from `environment`
 * (default {@linkcode SYSTEM_ENVIRONMENT}): fresh, or (with `restore`, when the engine can) from
 * a snapshot. The factory must not call `output.crash` before it returns (report a failed start
 * asynchronously).
 */
export type RoomEngineFactory = (
  roomId: string,
  output: RoomOutput,
  environment?: RoomEnvironment,
  restore?: EngineRestore,
) => RoomEngine;

/** Why a room crashed, as counted in `/metrics`. */
export type CrashKind =
  | "constructor"
  | "trap"
  | "exit"
  | "abi"
  | "invalid_pointer"
  | "cpu_limit"
  | "host_exit"
  | "output_limit"
  | "restore";

/**
 * A room's service can no longer run: its constructor threw, its WASM instance trapped or exited,
 * or its room host was stopped. The room's clients are closed with code 1011 and the message as
 * reason; the next connection to the room id starts a fresh instance.
 *
 * @example
 * ```ts
 * import { RoomCrashError } from "./room_engine.ts";
 *
 * const error = new RoomCrashError("trap", "WASM trap in \"message\": unreachable");
 * ```
 */
export class RoomCrashError extends Error {
  /** What kind of failure crashed the room. */
  readonly kind: CrashKind;

  /** Create a crash of the given kind, with a one-line message. */
  constructor(kind: CrashKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RoomCrashError";
    this.kind = kind;
  }
}
