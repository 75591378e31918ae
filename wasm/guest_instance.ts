/**
 * One room's instance of a WASM guest, driven as a {@linkcode SimpleJamsocketService}.
 *
 * @module
 */

import type { Logger } from "../util/logger.ts";
import { RoomCrashError, type RoomEnvironment } from "../room/room_engine.ts";
import type { ClientId, SimpleJamsocketService } from "../service.ts";
import { utf8Length } from "../util/utf8.ts";
import { API_PROTOCOL, API_VERSION, type GuestExports, WASI_MODULE } from "./_abi.ts";
import { COPY_IN, EVENT_EXPORT, EventKind } from "./_entry_points.ts";
import { BYTES_PER_FUEL_SHIFT, FUEL_EXPORT, METER_MODULE } from "./_meter.ts";
import { GLOBAL_EXPORT_PREFIX, type SavedGlobal, START_EXPORT } from "./_snapshot_layout.ts";
import {
  applyGuestState,
  captureGuestState,
  type GuestParts,
  type GuestState,
} from "./guest_snapshot.ts";
import type { InstancePool, PooledInstance } from "./instance_pool.ts";
import type { WasmMemoryBudget } from "./memory_budget.ts";
import { GuestExit, WasiShim } from "./wasi.ts";

const encoder = new TextEncoder();

/** JS Promise Integration, which Deno 2.9's lib does not type yet. */
const JSPI = WebAssembly as unknown as {
  Suspending: new (fn: (fuel: number) => number | Promise<number>) => WebAssembly.ImportValue;
  promising(fn: Entry): (fuel: number, kind: number, a: number, b: number) => Promise<number>;
};

/**
 * Where a guest's calls to the host go. Byte views point into guest memory and are valid only
 * during the call: copy what must outlive it.
 */
export interface GuestOutput {
  /** `send_message`: UTF-8 text as the guest wrote it (not yet validated). */
  sendText(recipient: number, utf8: Uint8Array): void;
  /** `send_binary`. */
  sendBinary(recipient: number, bytes: Uint8Array): void;
  /** `set_timer`. */
  setTimer(ms: number): void;
}

/** How a metered guest's events are limited. */
export interface GuestMetering {
  /** Fuel one event (and the start-up, `_initialize` and `initialize` together) may use. */
  readonly fuelPerEvent: number;
  /** Fuel between two checks with the host (a fraction of a time slice). */
  readonly fuelPerSlice: number;
  /**
   * Suspend the guest once it has run `sliceMs` (JS Promise Integration) so that other rooms,
   * timers and I/O run; events then return Promises. Off: events run to the end (or the limit)
   * at once.
   */
  readonly slicing: boolean;
  /** Milliseconds a guest runs between two suspensions, checked at each refuel. */
  readonly sliceMs?: number;
  /** The CPU limit in seconds the budget stands for (for messages). */
  readonly cpuLimit: number;
  /** The server-wide budget of WASM memory the instance reserves its pages from. */
  readonly memoryBudget?: WasmMemoryBudget;
}

/** What every instance of one service shares. */
export interface GuestConfig {
  readonly module: WebAssembly.Module;
  readonly logger: Logger;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Pages of memory an instance starts with (reserved from the memory budget). */
  readonly initialPages?: number;
  /** Present when the module was metered when it was loaded (`loadWasmService`'s default). */
  readonly metering?: GuestMetering;
  /** Present when the module's rooms can be snapshotted. */
  readonly snapshot?: GuestSnapshotConfig;
  /**
   * Present when used instances can be made fresh again (see `instance_pool.ts`): a room takes
   * one from here, and gives it back when it ends between events.
   */
  readonly pool?: InstancePool;
}

/** What snapshots of one module's instances need (see `guest_snapshot.ts`). */
export interface GuestSnapshotConfig {
  /** The mutable globals the host saves. */
  readonly layout: readonly SavedGlobal[];
  /** The module's initial memory image, made once on first use. */
  baseline(): Uint8Array;
  /** Most pages of memory an instance may have. */
  readonly maxPages: number;
}

/** A metered guest's entry point (see `_entry_points.ts`): `(fuel, kind, a, b) -> fuel left`. */
type Entry = (fuel: number, kind: number, a: number, b: number) => number | Promise<number>;

/**
 * Fuel a call to each host function costs a metered guest, beyond the instruction
 * (`IMPORT_CALL_COST`) and 1 per 16 bytes it hands over: about its CPU time, at the rate the
 * calibration measures (a few fuel per ns), so that a guest calling the host in a loop is stopped
 * near its CPU limit too. Fixed numbers, so the fuel an event uses stays deterministic.
 */
const HOST_FUEL = {
  /** A send: UTF-8 check, a socket write per recipient. */
  send: 10_000,
  /** Re-arming the room's timer. */
  setTimer: 5_000,
  /** A WASI call (clock, randomness, a log line). */
  wasi: 1_000,
} as const;

/** A guest event ran out of its budget. */
class CpuLimitExceeded extends Error {}

/**
 * A guest instance: instantiated, `_initialize`d and `initialize`d with its room id on
 * construction; then each hook hands its payload over once and calls the guest. A trap, a
 * `proc_exit`, a pointer outside guest memory or an event past the CPU limit ends the call with a
 * {@linkcode RoomCrashError}. Its hooks have the shape of a {@linkcode SimpleJamsocketService}'s,
 * so a room runs it like a TypeScript service.
 *
 * A metered guest (see `_meter.ts`) runs each event through one entry point with the event's
 * fuel. With time slicing, the start-up and every event return Promises (the room awaits them):
 * the guest is suspended between slices and resumed after other work had its turn.
 *
 * @example
 * ```ts ignore
 * const guest = new GuestInstance(config, "lobby", output);
 * await guest.ready;
 * await guest.message(1, "increment");
 * ```
 */
export class GuestInstance implements SimpleJamsocketService {
  /** Resolves once a time-sliced guest has started; undefined when it started synchronously. */
  readonly ready: Promise<void> | undefined;
  /** Fuel the last event used (metered guests). */
  lastEventFuel = 0;
  readonly #wasi: WasiShim;
  readonly #exports: GuestExports;
  readonly #metering: GuestMetering | undefined;
  /** The metered guest's entry point, through `WebAssembly.promising` when time slicing. */
  readonly #event: Entry | undefined;
  readonly #fuel: WebAssembly.Global | undefined;
  readonly #pool: InstancePool | undefined;
  /** The instance, when it came from the pool; undefined once given back. */
  #pooled: PooledInstance | undefined;
  /** No guest call is running or was cut short: the instance's state is consistent. */
  #between = true;
  /** Disposed: the instance may now be another room's. */
  #ended = false;
  #bytes: Uint8Array;
  /** Fuel granted to the running event so far. */
  #granted = 0;
  /**
   * When the running event last resumed, or first ran out of fuel (`performance.now()`); 0 until
   * then, so that short events never read the clock.
   */
  #runningSince = 0;
  /** The payload `copy_in` writes into guest memory. */
  #payload: string | Uint8Array | undefined;
  /** Pages reserved from the memory budget. */
  #pages = 0;
  readonly #snapshot: GuestSnapshotConfig | undefined;

  /**
   * Instantiate and start the guest for `roomId`, reading time and randomness from
   * `environment`; or, given `restore` (read from a snapshot of an instance of the same module),
   * write that state into the fresh instance instead of starting it (no guest code runs).
   * Throws {@linkcode RoomCrashError}.
   */
  constructor(
    config: GuestConfig,
    roomId: string,
    output: GuestOutput,
    environment?: RoomEnvironment,
    restore?: GuestState,
  ) {
    this.#snapshot = config.snapshot;
    this.#wasi = new WasiShim({
      args: config.args,
      env: config.env,
      environment,
      log: (stream, line) =>
        config.logger[stream === "stdout" ? "info" : "warn"](`Room "${roomId}" ${stream}: ${line}`),
    });
    const metering = this.#metering = config.metering;
    const initialPages = config.initialPages ?? 0;
    if (metering?.memoryBudget && !metering.memoryBudget.reserve(initialPages)) {
      throw new RoomCrashError(
        "constructor",
        `Not enough of the WASM memory budget left for the ${
          initialPages * 64
        } KiB room "${roomId}" starts with`,
      );
    }
    this.#pages = initialPages;
    /**
     * Charge a metered guest for a host call (its fuel is in the global during the call); far
     * past its budget, end the event here rather than let the i32 fuel wrap around.
     */
    const charge = (fuel: number) => {
      const global = this.#fuel;
      if (global === undefined) return;
      const left = global.value - fuel;
      if (left < -(2 ** 30)) throw new CpuLimitExceeded();
      global.value = left;
    };
    const wasi = this.#wasi.importsFor(config.module);
    const imports: WebAssembly.Imports = {
      env: {
        send_message: (to: number, ptr: number, len: number) => {
          charge(HOST_FUEL.send + (len >>> BYTES_PER_FUEL_SHIFT));
          output.sendText(to >>> 0, this.#range("send_message", ptr, len));
        },
        send_binary: (to: number, ptr: number, len: number) => {
          charge(HOST_FUEL.send + (len >>> BYTES_PER_FUEL_SHIFT));
          output.sendBinary(to >>> 0, this.#range("send_binary", ptr, len));
        },
        set_timer: (ms: number) => {
          charge(HOST_FUEL.setTimer);
          output.setTimer(ms >>> 0);
        },
      },
      [WASI_MODULE]: wasi,
    };
    if (metering) {
      for (const [name, fn] of Object.entries(wasi)) {
        const call = fn as (...args: unknown[]) => number | void;
        wasi[name] = ((...args: unknown[]) => {
          charge(HOST_FUEL.wasi);
          return call(...args);
        }) as typeof fn;
      }
      const outOfFuel = (left: number) => this.#outOfFuel(left);
      imports[METER_MODULE] = {
        // A pooled instance's import is wrapped by the pool, once.
        out_of_fuel: metering.slicing && !config.pool ? new JSPI.Suspending(outOfFuel) : outOfFuel,
        memory_grow: (pages: number) => this.#grow(pages >>> 0),
        [COPY_IN.name]: (ptr: number, size: number) => this.#copyIn(ptr, size),
      };
    }
    let instance: WebAssembly.Instance;
    this.#pool = config.pool;
    try {
      this.#pooled = config.pool?.acquire(imports);
      instance = this.#pooled?.instance ?? new WebAssembly.Instance(config.module, imports);
    } catch (error) {
      this.#release();
      throw crash("instantiate", error, metering);
    }
    const exports = this.#exports = instance.exports as unknown as GuestExports;
    this.#wasi.bind(exports.memory);
    this.#bytes = new Uint8Array(exports.memory.buffer);
    if (metering) {
      this.#fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
      const event = instance.exports[EVENT_EXPORT] as Entry;
      this.#event = metering.slicing ? JSPI.promising(event) : event;
    }
    if (restore) {
      this.#restore(restore);
      return;
    }
    if (!metering) {
      this.#startPlain(roomId);
      return;
    }
    let started: void | Promise<void>;
    try {
      started = this.#startMetered(roomId);
    } catch (error) {
      this.#release();
      throw error;
    }
    this.ready = started?.catch((error) => {
      this.#release();
      throw error;
    });
  }

  connect(client: ClientId): void | Promise<void> {
    if (this.#event) {
      return this.#exports.connect && this.#run("connect", EventKind.Connect, client);
    }
    try {
      this.#exports.connect?.(client);
    } catch (error) {
      throw crash("connect", error, undefined);
    }
  }

  disconnect(client: ClientId): void | Promise<void> {
    if (this.#event) {
      return this.#exports.disconnect && this.#run("disconnect", EventKind.Disconnect, client);
    }
    try {
      this.#exports.disconnect?.(client);
    } catch (error) {
      throw crash("disconnect", error, undefined);
    }
  }

  message(client: ClientId, text: string): void | Promise<void> {
    const exports = this.#exports;
    if (exports.message === undefined) return;
    if (this.#event) {
      this.#payload = text;
      return this.#run("message", EventKind.Message, client, utf8Length(text));
    }
    try {
      const length = utf8Length(text);
      const [ptr, size] = this.#allocate(length);
      encoder.encodeInto(text, this.#bytes.subarray(ptr, ptr + length));
      exports.message(client, ptr, length);
      exports.jam_free(ptr, size);
    } catch (error) {
      throw crash("message", error, undefined);
    }
  }

  /** `message` with text already encoded as UTF-8 (as it arrives from another process). */
  messageUtf8(client: ClientId, utf8: Uint8Array): void | Promise<void> {
    return this.#bytesEvent("message", client, utf8);
  }

  binary(client: ClientId, data: Uint8Array): void | Promise<void> {
    return this.#bytesEvent("binary", client, data);
  }

  timer(): void | Promise<void> {
    if (this.#event) return this.#exports.timer && this.#run("timer", EventKind.Timer);
    try {
      this.#exports.timer?.();
    } catch (error) {
      throw crash("timer", error, undefined);
    }
  }

  /**
   * The guest's state as bytes (see `guest_snapshot.ts`), between events only. Its unfinished
   * log lines are written out first.
   *
   * @throws {Error} when the module's rooms cannot be snapshotted.
   */
  snapshot(): Uint8Array {
    const config = this.#snapshot;
    if (config === undefined) throw new Error("This module's rooms cannot be snapshotted");
    if (this.#ended) throw new Error("This room's WASM instance was released");
    this.#wasi.flush();
    return captureGuestState(
      this.#parts(config),
      config.layout,
      config.baseline(),
      this.#wasi.monotonicMs(),
    );
  }

  /**
   * Write out the guest's unfinished log lines, give its memory back to the budget, and its
   * instance back to the pool when it has one and no call was cut short.
   */
  [Symbol.dispose](): void {
    this.#wasi.flush();
    this.#release();
    this.#ended = true;
    const pooled = this.#pooled;
    this.#pooled = undefined;
    if (pooled !== undefined && this.#between) this.#pool!.release(pooled);
  }

  #parts(config: GuestSnapshotConfig): GuestParts {
    const exports = this.#exports as unknown as Record<string, WebAssembly.Global>;
    return {
      memory: this.#exports.memory,
      globals: config.layout.map((g) => exports[GLOBAL_EXPORT_PREFIX + g.index]),
    };
  }

  /** Write saved state into this fresh instance; its monotonic clock goes on from the saved one. */
  #restore(state: GuestState): void {
    const config = this.#snapshot;
    try {
      if (config === undefined) throw new Error("This module's rooms cannot be snapshotted");
      applyGuestState(state, this.#parts(config), (pages) => {
        const before = this.#exports.memory.buffer.byteLength >>> 16;
        return this.#grow(pages) === before;
      });
    } catch (error) {
      this.#release();
      throw new RoomCrashError(
        "restore",
        `Cannot restore the WASM guest: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#wasi.continueClock(state.monotonicMs);
  }

  #release(): void {
    this.#metering?.memoryBudget?.release(this.#pages);
    this.#pages = 0;
  }

  /** The start-up without metering: `_initialize`, `initialize(room id)`, the version check. */
  #startPlain(roomId: string): void {
    const exports = this.#exports;
    try {
      (exports as unknown as Record<string, (() => void) | undefined>)[START_EXPORT]?.();
      exports._initialize?.();
      const length = utf8Length(roomId);
      const [ptr, size] = this.#allocate(length);
      encoder.encodeInto(roomId, this.#bytes.subarray(ptr, ptr + length));
      exports.initialize(ptr, length);
      exports.jam_free(ptr, size);
    } catch (error) {
      throw crash("initialize", error, undefined);
    }
    this.#checkVersions();
  }

  /** The metered start-up (start function, `_initialize`, `initialize`): one event. */
  #startMetered(roomId: string): void | Promise<void> {
    this.#payload = roomId;
    const started = this.#run("initialize", EventKind.StartUp, utf8Length(roomId));
    if (started === undefined) return this.#checkVersions();
    return started.then(() => this.#checkVersions());
  }

  #checkVersions(): void {
    const problem = checkVersions(this.#exports);
    if (problem) throw new RoomCrashError("abi", problem);
  }

  #bytesEvent(
    hook: "message" | "binary",
    client: ClientId,
    data: Uint8Array,
  ): void | Promise<void> {
    const call = this.#exports[hook];
    if (call === undefined) return;
    if (this.#event) {
      this.#payload = data;
      const kind = hook === "message" ? EventKind.Message : EventKind.Binary;
      return this.#run(hook, kind, client, data.length);
    }
    try {
      const [ptr, size] = this.#allocate(data.length);
      this.#bytes.set(data, ptr);
      call(client, ptr, data.length);
      this.#exports.jam_free(ptr, size);
    } catch (error) {
      throw crash(hook, error, undefined);
    }
  }

  /** Run one metered event: grant the first slice, call the entry point, record the fuel used. */
  #run(call: string, kind: number, a = 0, b = 0): void | Promise<void> {
    const metering = this.#metering!;
    if (this.#ended) throw new Error("This room's WASM instance was released");
    const fuel = Math.min(metering.fuelPerSlice, metering.fuelPerEvent);
    this.#granted = fuel;
    this.#runningSince = 0;
    this.#between = false;
    let result: number | Promise<number>;
    try {
      result = this.#event!(fuel, kind, a, b);
    } catch (error) {
      throw crash(call, error, metering);
    }
    if (typeof result === "number") {
      this.lastEventFuel = this.#granted - result;
      this.#between = true;
      return;
    }
    return result.then(
      (left) => {
        this.lastEventFuel = this.#granted - left;
        this.#between = true;
      },
      (error) => {
        throw crash(call, error, metering);
      },
    );
  }

  /**
   * The guest's fuel went negative (`left`): end the event past the budget, else grant more —
   * after a macrotask when time slicing and the guest has run for a slice, so that other rooms,
   * timers and I/O run. Where it suspends depends on time; where it stops, only on fuel.
   */
  #outOfFuel(left: number): number | Promise<number> {
    const metering = this.#metering!;
    const used = this.#granted - left;
    if (used > metering.fuelPerEvent) throw new CpuLimitExceeded();
    const next = Math.min(metering.fuelPerSlice, metering.fuelPerEvent - used);
    this.#granted = used + next;
    if (!metering.slicing) return next;
    const now = performance.now();
    if (this.#runningSince === 0) this.#runningSince = now;
    if (now - this.#runningSince < (metering.sliceMs ?? 0)) return next;
    // A timer, not setImmediate: in Deno, a chain of immediates starves I/O.
    return new Promise((resolve) =>
      setTimeout(() => {
        this.#runningSince = performance.now();
        resolve(next);
      }, 0)
    );
  }

  /** `memory.grow` of a metered guest: within the memory budget, or -1. */
  #grow(pages: number): number {
    const memory = this.#exports.memory;
    const before = memory.buffer.byteLength >>> 16;
    if (pages === 0) return before;
    const budget = this.#metering?.memoryBudget;
    if (budget && !budget.reserve(pages)) return -1;
    try {
      memory.grow(pages);
    } catch {
      budget?.release(pages);
      return -1;
    }
    if (budget) this.#pages += pages;
    return before;
  }

  /** Write the pending payload where the guest's `jam_malloc` put room for it. */
  #copyIn(ptr: number, size: number): void {
    const target = this.#range("jam_malloc", ptr, size);
    const payload = this.#payload;
    this.#payload = undefined;
    if (typeof payload === "string") encoder.encodeInto(payload, target);
    else if (payload) target.set(payload);
  }

  /**
   * `jam_malloc` room for `length` bytes (at least 1, so an empty payload still gets a valid
   * pointer); returns the pointer and the size to free. The pointer may have any alignment.
   */
  #allocate(length: number): [ptr: number, size: number] {
    const size = length || 1;
    const ptr = this.#exports.jam_malloc(size) >>> 0;
    this.#range("jam_malloc", ptr, size);
    return [ptr, size];
  }

  /** Guest memory `[ptr, ptr + len)`, refreshed if memory grew; crashes the room when outside. */
  #range(what: string, ptr: number, len: number): Uint8Array {
    ptr >>>= 0;
    len >>>= 0;
    const buffer = this.#exports.memory.buffer;
    if (this.#bytes.buffer !== buffer) this.#bytes = new Uint8Array(buffer);
    if (ptr + len > buffer.byteLength) {
      throw new RoomCrashError(
        "invalid_pointer",
        `Guest memory range passed to "${what}" is out of bounds: pointer ${ptr}, length ${len}, memory ${buffer.byteLength} bytes`,
      );
    }
    return this.#bytes.subarray(ptr, ptr + len);
  }
}

/**
 * Check the version globals: each holds the address of an i32 that must be 1 (API version) and
 * 0 (protocol). Returns the problem as one line, or undefined.
 */
export function checkVersions(exports: GuestExports): string | undefined {
  const view = new DataView(exports.memory.buffer);
  for (
    const [name, expected] of [
      ["JAMSOCKET_API_VERSION", API_VERSION],
      ["JAMSOCKET_API_PROTOCOL", API_PROTOCOL],
    ] as const
  ) {
    const address = Number(exports[name].value) >>> 0;
    if (address + 4 > view.byteLength) {
      return `export "${name}" points at address ${address}, outside memory`;
    }
    const found = view.getInt32(address, true);
    if (found !== expected) {
      return `export "${name}" is ${found}, expected ${expected}`;
    }
  }
  return undefined;
}

/** Turn whatever a guest call threw into the crash of its room. */
function crash(call: string, error: unknown, metering: GuestMetering | undefined): RoomCrashError {
  if (error instanceof RoomCrashError) return error;
  if (error instanceof CpuLimitExceeded) {
    return new RoomCrashError(
      "cpu_limit",
      `WASM guest ran past the CPU limit of ${metering?.cpuLimit} s in "${call}"`,
    );
  }
  if (error instanceof GuestExit) {
    return new RoomCrashError("exit", `WASM guest exited with code ${error.code} in "${call}"`, {
      cause: error,
    });
  }
  const detail = error instanceof WebAssembly.RuntimeError
    ? error.message
    : error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
  return new RoomCrashError("trap", `WASM trap in "${call}": ${detail}`, { cause: error });
}
