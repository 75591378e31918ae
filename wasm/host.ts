/**
 * Load a WebAssembly (WASI) module built for the original Rust `jamsocket-wasm` crate — or any
 * module that follows its ABI — as a service that `serve()` runs like a TypeScript one.
 *
 * @example
 * ```ts ignore
 * import { loadWasmService } from "./wasm/host.ts";
 * import { serve } from "./server.ts";
 *
 * serve(await loadWasmService("examples/wasm/counter.wasm"));
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename } from "node:path";
import { consoleLogger, describeError, type Logger } from "../util/logger.ts";
import type { ServiceSnapshots } from "../room/room_snapshot.ts";
import type {
  JamsocketContext,
  JamsocketServiceFactory,
  SimpleJamsocketService,
} from "../service.ts";
import type { RoomEnvironment } from "../room/room_engine.ts";
import { checkModuleShape, type GuestExports, shapeOf } from "./_abi.ts";
import { addEntryPoints, COPY_IN } from "./_entry_points.ts";
import { limitMemory, MemoryLimitError } from "./_limit_memory.ts";
import { meter, METER_MODULE } from "./_meter.ts";
import { exportStart, exposeState, type SnapshotLayout } from "./_snapshot_layout.ts";
import { type GuestState, readGuestState } from "./guest_snapshot.ts";
import { fuelForSeconds } from "./fuel.ts";
import {
  checkVersions,
  type GuestConfig,
  GuestInstance,
  type GuestMetering,
} from "./guest_instance.ts";
import { decodeGuestText } from "./guest_text.ts";
import { InstancePool } from "./instance_pool.ts";
import type { WasmMemoryBudget } from "./memory_budget.ts";
import { WasmFormatError } from "./module/bytes.ts";
import { describeModule, readModule, writeModule } from "./module/module.ts";

/** The default per-room memory ceiling: 1024 pages of 64 KiB (64 MiB). */
export const DEFAULT_MAX_MEMORY_PAGES = 1024;
/** The default CPU limit of one event, in seconds. */
export const DEFAULT_CPU_LIMIT = 2;
/** The default time slice of a metered guest, in milliseconds. */
export const DEFAULT_TIME_SLICE_MS = 5;
/**
 * Used instances of a service kept, made fresh, for its next rooms (each holds its initial
 * memory, 1.1 MiB for a Rust guest): enough for rooms that open as fast as others close.
 */
const IDLE_INSTANCES = 16;

/** Options of {@linkcode loadWasmService}. */
export interface WasmServiceOptions {
  /**
   * Most memory one room's instance may have, in 64 KiB pages; `memory.grow` past it fails inside
   * the guest. Applies to modules given as a path, URL or bytes (a precompiled
   * `WebAssembly.Module` keeps the maximum it was compiled with).
   * @default {1024}
   */
  maxMemoryPages?: number;
  /**
   * Meter the module (instrument it so that every event has a CPU budget and can be time
   * sliced; see the README's WebAssembly section). A precompiled `WebAssembly.Module` is never
   * metered.
   * @default {true}
   */
  metering?: boolean;
  /**
   * Where guest output (stdout as info, stderr as warnings, prefixed with the room id) and
   * guest faults go.
   * @default {consoleLogger()}
   */
  logger?: Logger;
  /** Command-line arguments the guest sees through WASI. @default {[]} */
  args?: readonly string[];
  /** Environment variables the guest sees through WASI. @default {{}} */
  env?: Readonly<Record<string, string>>;
  /** The name errors and logs use for the module. @default the file name, or "module" */
  name?: string;
}

/** How the rooms of a metered service are limited; see {@linkcode WasmService.roomFactory}. */
export interface WasmRunOptions {
  /**
   * CPU seconds one event may use (the start-up counts as one event); past it the room crashes
   * (1011). Converted to fuel with the calibration of `fuel.ts`.
   * @default {2}
   */
  cpuLimit?: number;
  /**
   * The same budget in fuel units, which wins over `cpuLimit`: the same input stops at the same
   * instruction on any machine (for replay).
   */
  cpuLimitFuel?: number;
  /**
   * Milliseconds a guest runs before it is suspended so that other rooms run (time slicing, with
   * JS Promise Integration); `0` runs each event to its end at once.
   * @default {5}
   */
  timeSlice?: number;
  /** The memory budget the rooms' instances take their pages from. */
  memoryBudget?: WasmMemoryBudget;
}

/**
 * The limits of a metered guest from {@linkcode WasmRunOptions}.
 *
 * @example
 * ```ts
 * import { guestMetering } from "./host.ts";
 *
 * const metering = guestMetering({ cpuLimitFuel: 1_000_000, timeSlice: 0 });
 * ```
 */
export function guestMetering(options: WasmRunOptions = {}): GuestMetering {
  const cpuLimit = options.cpuLimit ?? DEFAULT_CPU_LIMIT;
  const timeSlice = options.timeSlice ?? DEFAULT_TIME_SLICE_MS;
  const fuelPerEvent = options.cpuLimitFuel ?? fuelForSeconds(cpuLimit);
  // With slicing, the guest checks the time four times a slice; without, every 10 ms of fuel.
  const slice = Math.min(fuelForSeconds(timeSlice > 0 ? timeSlice / 4000 : 0.01), 2 ** 30);
  return {
    fuelPerEvent,
    fuelPerSlice: Math.max(1, Math.min(slice, fuelPerEvent)),
    slicing: timeSlice > 0,
    sliceMs: timeSlice,
    cpuLimit,
    memoryBudget: options.memoryBudget,
  };
}

/**
 * A module that cannot be a Jamsocket service, found when it is loaded (before any server
 * listens). The message is one line naming the module and what is wrong.
 *
 * @example
 * ```ts
 * import { WasmLoadError } from "./host.ts";
 *
 * const error = new WasmLoadError("counter.wasm", 'missing export function "jam_malloc"');
 * ```
 */
export class WasmLoadError extends Error {
  /** The module's name (its file name, or the `name` option). */
  readonly module: string;

  /** `Cannot load WASM service "<module>": <problem>`. */
  constructor(module: string, problem: string, options?: ErrorOptions) {
    super(`Cannot load WASM service "${module}": ${problem}`, options);
    this.name = "WasmLoadError";
    this.module = module;
  }
}

/**
 * A compiled, checked WASM service. `serve()` and `createHandler()` accept it wherever they accept
 * a service class; each room gets its own instance.
 */
export class WasmService {
  /** The module's name, for messages. */
  readonly name: string;
  /** The compiled module (memory ceiling and metering applied). */
  readonly module: WebAssembly.Module;
  /**
   * The module's bytes as they were given, when not precompiled: room hosts load them the same
   * way.
   */
  readonly bytes: Uint8Array | undefined;
  /** The options the service was loaded with, defaults filled in. */
  readonly options: Readonly<Required<Omit<WasmServiceOptions, "name">>>;
  /** The module was metered: its events have CPU budgets and can be time sliced. */
  readonly metered: boolean;
  /** Pages of memory each instance starts with. */
  readonly initialPages: number;
  /**
   * Why this service's rooms cannot be snapshotted (so cannot hibernate, persist or move), as
   * one line; undefined when they can.
   */
  readonly snapshotRefusal: string | undefined;
  readonly #layout: SnapshotLayout | undefined;
  #factory: JamsocketServiceFactory | undefined;
  #baseline: Uint8Array | undefined;
  /** Used instances made fresh again, for time-sliced and for unsliced rooms. */
  readonly #pools = new Map<boolean, InstancePool>();
  #snapshotId: string | undefined;

  /** Use {@linkcode loadWasmService}, which checks the module first. */
  constructor(
    name: string,
    module: WebAssembly.Module,
    bytes: Uint8Array | undefined,
    options: Readonly<Required<Omit<WasmServiceOptions, "name">>>,
    metered = false,
    initialPages = 0,
    layout?: SnapshotLayout,
  ) {
    this.name = name;
    this.module = module;
    this.bytes = bytes;
    this.options = options;
    this.metered = metered;
    this.initialPages = initialPages;
    this.#layout = layout;
    this.snapshotRefusal = bytes === undefined || layout === undefined
      ? "a precompiled WebAssembly.Module cannot be snapshotted (load the module from its bytes)"
      : layout.refusal;
  }

  /**
   * `wasm:sha256:<hex>` of the module's bytes as they were given: what snapshots of its rooms
   * are checked against, so that a snapshot never restores into another build.
   */
  get snapshotId(): string {
    this.#snapshotId ??= this.bytes === undefined
      ? `wasm:precompiled:${this.name}`
      : `wasm:sha256:${createHash("sha256").update(this.bytes).digest("hex")}`;
    return this.#snapshotId;
  }

  /** A factory of one guest instance per room, with the default limits. */
  get factory(): JamsocketServiceFactory {
    return this.#factory ??= this.roomFactory();
  }

  /**
   * What each instance needs, with `run`'s limits when the module is metered (room hosts build
   * their instances with it).
   *
   * @ignore
   */
  guestConfig(run: WasmRunOptions | GuestMetering = {}): GuestConfig {
    const metering = !this.metered ? undefined : "fuelPerEvent" in run ? run : guestMetering(run);
    const layout = this.#layout;
    const snapshot = layout === undefined || this.snapshotRefusal !== undefined ? undefined : {
      layout: layout.globals,
      baseline: () => this.#initialImage(),
      maxPages: this.options.maxMemoryPages,
    };
    return {
      ...this.options,
      module: this.module,
      initialPages: this.initialPages,
      metering,
      snapshot,
      pool: metering && snapshot && this.#reusable ? this.#pool(metering.slicing) : undefined,
    };
  }

  /**
   * Its used instances can be made fresh again (see `instance_pool.ts`): it changes no table,
   * drops no segment and imports only functions (metered, it runs no code at instantiation).
   */
  get #reusable(): boolean {
    return this.#layout?.dropsSegments === false &&
      WebAssembly.Module.imports(this.module).every((i) => i.kind === "function");
  }

  /** The pool of instances whose out-of-fuel import suspends (`slicing`) or returns. */
  #pool(slicing: boolean): InstancePool {
    let pool = this.#pools.get(slicing);
    if (pool === undefined) {
      pool = new InstancePool({
        module: this.module,
        baseline: () => this.#initialImage(),
        globals: this.#layout!.globals,
        suspending: slicing ? { module: METER_MODULE, name: "out_of_fuel" } : undefined,
        maxIdle: IDLE_INSTANCES,
      });
      this.#pools.set(slicing, pool);
    }
    return pool;
  }

  /**
   * A factory of one guest instance per room, limited by `run`, whose guest reads time and
   * randomness from the environment it is given. A time-sliced guest's factory returns a Promise
   * (the room waits for its start-up before its first event).
   */
  roomFactory(run: WasmRunOptions = {}): WasmRoomFactory {
    const config = this.guestConfig(run);
    return (roomId, ctx, environment) => {
      const guest = this.#guest(config, roomId, ctx, environment);
      return guest.ready ? guest.ready.then(() => guest) : guest;
    };
  }

  /**
   * How rooms from {@linkcode roomFactory} with the same `run` are snapshotted and restored, or
   * undefined when they cannot be ({@linkcode snapshotRefusal} says why).
   */
  roomSnapshots(run: WasmRunOptions = {}): WasmRoomSnapshots | undefined {
    if (this.snapshotRefusal !== undefined) return undefined;
    const config = this.guestConfig(run);
    const read = (state: Uint8Array): GuestState =>
      readGuestState(state, config.snapshot!.layout, config.snapshot!.maxPages);
    return {
      service: this.snapshotId,
      capture: (service) => (service as GuestInstance).snapshot(),
      check: (state) => void read(state),
      restore: (roomId, ctx, state, environment) =>
        this.#guest(config, roomId, ctx, environment, read(state)),
    };
  }

  #guest(
    config: GuestConfig,
    roomId: string,
    ctx: JamsocketContext,
    environment: RoomEnvironment | undefined,
    restore?: GuestState,
  ): GuestInstance {
    const logger = this.options.logger;
    return new GuestInstance(
      config,
      roomId,
      {
        sendText(recipient, utf8) {
          const text = decodeGuestText(utf8, roomId, recipient, logger);
          if (text !== undefined) ctx.sendMessage(recipient, text);
        },
        sendBinary: (recipient, bytes) => ctx.sendBinary(recipient, bytes.slice()),
        setTimer: (ms) => ctx.setTimer(ms),
      },
      environment,
      restore,
    );
  }

  /** The memory a fresh instance starts with (its data segments laid out), made once. */
  #initialImage(): Uint8Array {
    if (this.#baseline !== undefined) return this.#baseline;
    const imports: Record<string, Record<string, () => number>> = {};
    for (const i of WebAssembly.Module.imports(this.module)) {
      if (i.kind === "function") (imports[i.module] ??= {})[i.name] = () => 0;
    }
    const instance = new WebAssembly.Instance(this.module, imports);
    const memory = instance.exports.memory as WebAssembly.Memory;
    this.#baseline = new Uint8Array(memory.buffer).slice();
    return this.#baseline;
  }
}

/** A service factory whose guests read time and randomness from a room's environment. */
export type WasmRoomFactory = (
  roomId: string,
  ctx: JamsocketContext,
  environment?: RoomEnvironment,
) => SimpleJamsocketService | Promise<SimpleJamsocketService>;

/** {@linkcode ServiceSnapshots} whose restored guests read time and randomness from a room's environment. */
export interface WasmRoomSnapshots extends ServiceSnapshots {
  /** Build the guest from its state, reading time and randomness from `environment`. */
  restore(
    roomId: string,
    ctx: JamsocketContext,
    state: Uint8Array,
    environment?: RoomEnvironment,
  ): SimpleJamsocketService;
}

/** What {@linkcode loadWasmService} accepts. */
export type WasmSource = string | URL | Uint8Array | ArrayBuffer | WebAssembly.Module;

/**
 * Compile and check a WASM service: its exports and imports against the Jamsocket ABI v1, and
 * its version globals (which must point at 1 and 0). Compiles once; every room instantiates the
 * compiled module.
 *
 * @throws {WasmLoadError} one line naming the module and what is missing or wrong.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadWasmService, WasmLoadError } from "./host.ts";
 *
 * const notWasm = new TextEncoder().encode("hello");
 * await assert.rejects(loadWasmService(notWasm, { name: "hello.wasm" }), WasmLoadError);
 * ```
 */
export async function loadWasmService(
  source: WasmSource,
  options: WasmServiceOptions = {},
): Promise<WasmService> {
  const name = options.name ?? nameOf(source);
  const resolved = {
    maxMemoryPages: options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES,
    metering: options.metering ?? true,
    logger: options.logger ?? consoleLogger(),
    args: options.args ?? [],
    env: options.env ?? {},
  };
  if (source instanceof WebAssembly.Module) {
    const problem = checkModuleShape(shapeOf(source)) ?? probeVersions(source);
    if (problem) throw new WasmLoadError(name, problem);
    return new WasmService(name, source, undefined, { ...resolved, metering: false });
  }
  let bytes: Uint8Array;
  try {
    bytes = await readSource(source);
  } catch (error) {
    throw new WasmLoadError(name, describeLoadError(error), { cause: error });
  }
  let prepared: { bytes: Uint8Array; initialPages: number; layout: SnapshotLayout };
  try {
    prepared = prepareModule(bytes, resolved);
  } catch (error) {
    if (error instanceof AbiProblem) throw new WasmLoadError(name, error.message);
    const problem = invalidModule(bytes) ??
      (error instanceof MemoryLimitError || /^(not a|unsupported) WebAssembly binary/.test(
          (error as Error).message,
        )
        ? (error as Error).message
        : `cannot ${resolved.metering ? "meter" : "rewrite"}: ${
          error instanceof WasmFormatError ? error.message : describeError(error)
        }`);
    throw new WasmLoadError(name, problem, { cause: error });
  }
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(prepared.bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    const problem = invalidModule(bytes) ??
      `cannot ${resolved.metering ? "meter" : "rewrite"}: the rewritten module does not compile: ${
        describeError(error)
      }`;
    throw new WasmLoadError(name, problem, { cause: error });
  }
  const problem = probeVersions(module);
  if (problem) throw new WasmLoadError(name, problem);
  return new WasmService(
    name,
    module,
    bytes,
    resolved,
    resolved.metering,
    prepared.initialPages,
    prepared.layout,
  );
}

/** A module whose imports or exports break the ABI; the message is the problem. */
class AbiProblem extends Error {}

/**
 * Check the module's shape, cap its memory, expose its state for snapshots and meter it; the
 * bytes to compile.
 *
 * @throws {AbiProblem} for a module that breaks the ABI.
 */
function prepareModule(
  bytes: Uint8Array,
  options: { maxMemoryPages: number; metering: boolean },
): { bytes: Uint8Array; initialPages: number; layout: SnapshotLayout } {
  const module = readModule(bytes);
  const shape = checkModuleShape(describeModule(module));
  if (shape) throw new AbiProblem(shape);
  limitMemory(module, options.maxMemoryPages);
  const initialPages = module.memories[0]?.min ?? 0;
  const layout = exposeState(module);
  if (options.metering) {
    const metered = meter(module, { growHook: true, extraImports: [COPY_IN] });
    addEntryPoints(metered);
    metered.finish();
  } else {
    exportStart(module);
  }
  return { bytes: writeModule(module), initialPages, layout };
}

/** V8's one-line complaint about bytes that are not a valid module, if it has one. */
function invalidModule(bytes: Uint8Array): string | undefined {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0x61) return undefined;
  try {
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    return undefined;
  } catch (error) {
    return `not a valid module: ${describeError(error)}`;
  }
}

async function readSource(source: string | URL | Uint8Array | ArrayBuffer): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const url = source instanceof URL ? source : undefined;
  if (url && url.protocol !== "file:") {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`fetching ${url} answered ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  return await Deno.readFile(url ?? source);
}

/** Instantiate once, without calling anything, and read the version globals. */
function probeVersions(module: WebAssembly.Module): string | undefined {
  const imports: Record<string, Record<string, () => number>> = {};
  for (const i of WebAssembly.Module.imports(module)) {
    if (i.kind === "function") (imports[i.module] ??= {})[i.name] = () => 0;
  }
  try {
    const instance = new WebAssembly.Instance(module, imports);
    return checkVersions(instance.exports as unknown as GuestExports);
  } catch (error) {
    return `cannot be instantiated: ${describeError(error)}`;
  }
}

function describeLoadError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "file not found";
  return error instanceof Error ? error.message : String(error);
}

function nameOf(source: WasmSource): string {
  if (typeof source === "string") return basename(source);
  if (source instanceof URL) return basename(source.pathname);
  return "module";
}
