/**
 * Where a service's rooms run: native services and in-process WASM in this process (metered, so
 * that each room's events have a CPU budget and are time sliced), or WASM rooms in a pool of room
 * host processes.
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import { LocalEngine } from "../room/local_engine.ts";
import { InstanceSlots } from "../room/instance_slots.ts";
import type { Logger } from "../util/logger.ts";
import type { Metrics } from "../http/metrics.ts";
import { RoomHostPool } from "../room_host/pool.ts";
import type { RoomEngineFactory } from "../room/room_engine.ts";
import type { ServiceSnapshots } from "../room/room_snapshot.ts";
import { typeScriptSnapshots } from "./service_snapshots.ts";
import {
  type JamsocketServiceClass,
  type JamsocketServiceFactory,
  toServiceFactory,
} from "../service.ts";
import { DEFAULT_CPU_LIMIT, WasmService } from "../wasm/host.ts";
import { defaultWasmMemoryBudget, PAGE_BYTES, WasmMemoryBudget } from "../wasm/memory_budget.ts";

/** Anything `serve()` and `createHandler()` run: a service class, a factory, or a WASM service. */
export type ServiceDefinition = JamsocketServiceClass | JamsocketServiceFactory | WasmService;

/** How WASM rooms are placed and limited. */
export interface IsolationOptions {
  /**
   * Run a WASM service's rooms in this many child processes ("room hosts"), so that a guest that
   * spins is stopped without stalling the rest. `0` runs them in this process. Needs
   * `--allow-run`. TypeScript services always run in this process.
   * @default {0}
   */
  roomHosts?: number;
  /**
   * Most WASM rooms per room host; past it, new rooms get 503. In this process (`roomHosts` 0),
   * most WASM rooms awake at once: past it the least recently used idle room hibernates to make
   * room (a room waking, or a new one, waits for it), and rooms hibernate however many there are;
   * only a module whose rooms cannot be snapshotted gets 503 for new rooms. Well below the
   * ~32,000 WASM memories at which V8 ends the process.
   * @default {3000}
   */
  roomsPerHost?: number;
  /**
   * CPU seconds one event of a WASM room may use. A metered guest (the default for modules
   * loaded from bytes) that goes past it traps in its own call: its room crashes (1011), every
   * other room goes on. The seconds become a budget of fuel through a calibration done once per
   * process (see `wasm/fuel.ts`). In room hosts, a host stuck for twice as long (plus 1 s) is
   * killed as a backstop, crashing its rooms; for unmetered guests that is the only limit
   * (one event, however many short events come in a row).
   * @default {2}
   */
  cpuLimit?: number;
  /**
   * The CPU limit in fuel units instead of seconds: deterministic on any machine (the same input
   * stops at the same instruction), for replay.
   */
  cpuLimitFuel?: number;
  /**
   * Milliseconds a metered WASM room in this process runs before it is suspended so that other
   * rooms, timers and I/O run (time slicing); the event then goes on where it was. `0` turns
   * slicing off: an event runs to its end (or its CPU limit) at once. Room hosts do not slice.
   * @default {5}
   */
  timeSlice?: number;
  /**
   * Bytes of WASM memory all rooms together may hold (initial memory and `memory.grow`). Past it
   * a guest's `memory.grow` returns -1 and a new room gets 503. With room hosts, each host gets
   * an equal share.
   * @default {half of the machine's memory}
   */
  wasmMemoryBudget?: number;
  /** The command that starts a room host. @default {`deno run` of room_host/host_main.ts} */
  roomHostCommand?: readonly string[];
}

/** The default {@linkcode IsolationOptions.roomsPerHost}. */
export const DEFAULT_ROOMS_PER_HOST = 3000;

/** A service made ready to run rooms. */
export interface ServiceRuntime {
  /** Builds each room's engine. */
  readonly engineFactory: RoomEngineFactory;
  /** Most rooms this runtime can hold now (read before each new room). */
  readonly capacity: number;
  /** Room host processes running. */
  readonly hosts: number;
  /** Events handed to room hosts and not yet handled. */
  readonly queueDepth: number;
  /** How this runtime's rooms are snapshotted, when they can be. */
  readonly snapshots: ServiceSnapshots | undefined;
  /** Why its rooms cannot be snapshotted (one line), when they cannot. */
  readonly snapshotRefusal: string | undefined;
  /** Release the runtime's processes, if any. */
  close(): Promise<void>;
}

/**
 * Prepare `service` to run rooms, in this process or in room hosts.
 *
 * @example
 * ```ts
 * import { createServiceRuntime } from "./service_runtime.ts";
 * import { consoleLogger } from "../util/logger.ts";
 * import { Metrics } from "../http/metrics.ts";
 *
 * const runtime = createServiceRuntime(class {}, {}, consoleLogger(), new Metrics());
 * await runtime.close();
 * ```
 */
export function createServiceRuntime(
  service: ServiceDefinition,
  options: IsolationOptions,
  logger: Logger,
  metrics: Metrics,
): ServiceRuntime {
  const roomsPerHost = options.roomsPerHost ?? DEFAULT_ROOMS_PER_HOST;
  const hosts = options.roomHosts ?? 0;
  const cpuLimit = options.cpuLimit ?? DEFAULT_CPU_LIMIT;
  const memoryLimit = options.wasmMemoryBudget ?? defaultWasmMemoryBudget();
  if (service instanceof WasmService && hosts > 0) {
    const pool = new RoomHostPool(service, {
      hosts,
      roomsPerHost,
      cpuLimit,
      command: options.roomHostCommand,
      logger,
      metrics,
      memoryBudget: memoryLimit,
    });
    return {
      engineFactory: pool.engineFactory,
      get capacity() {
        return pool.capacity;
      },
      get hosts() {
        return pool.size;
      },
      get queueDepth() {
        return pool.queueDepth;
      },
      snapshots: undefined,
      snapshotRefusal: "rooms in room hosts (roomHosts > 0) cannot be snapshotted",
      close: () => pool.close(),
    };
  }
  if (!(service instanceof WasmService)) {
    const factory = toServiceFactory(service);
    const found = typeScriptSnapshots(service);
    const snapshots = typeof found === "string" ? undefined : found;
    return {
      engineFactory: (roomId, output, _environment, restore) =>
        new LocalEngine(roomId, factory, output, logger, { snapshots, restore }),
      capacity: Infinity,
      hosts: 0,
      queueDepth: 0,
      snapshots,
      snapshotRefusal: typeof found === "string" ? found : undefined,
      close: () => Promise.resolve(),
    };
  }
  const memory = new WasmMemoryBudget(memoryLimit);
  const run = {
    cpuLimit,
    cpuLimitFuel: options.cpuLimitFuel,
    timeSlice: options.timeSlice,
    memoryBudget: memory,
  };
  const factory = service.roomFactory(run);
  const snapshots = service.roomSnapshots(run);
  // Rooms that can hibernate are not refused at the cap: the least recently used idle one
  // hibernates to make room.
  const slots = snapshots && new InstanceSlots(roomsPerHost, () => metrics.hibernations++);
  return {
    engineFactory: (roomId, output, environment, restore) =>
      new LocalEngine(roomId, (id, ctx) => factory(id, ctx, environment), output, logger, {
        snapshots: snapshots && {
          ...snapshots,
          restore: (id, ctx, state) => snapshots.restore(id, ctx, state, environment),
        },
        restore,
        slots,
      }),
    snapshots,
    snapshotRefusal: service.snapshotRefusal,
    get capacity() {
      checkMemoryFor(service, memory);
      return slots === undefined ? roomsPerHost : Infinity;
    },
    hosts: 0,
    queueDepth: 0,
    close: () => Promise.resolve(),
  };
}

/**
 * Refuse a new room (503, before the WebSocket upgrade) when the memory budget cannot hold the
 * memory a room of `service` starts with.
 */
function checkMemoryFor(service: WasmService, memory: WasmMemoryBudget): void {
  if (service.initialPages <= memory.freePages) return;
  const mib = (bytes: number) =>
    bytes < 2 ** 20 ? `${Math.round(bytes / 1024)} KiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
  throw new HttpError(
    503,
    `Server is out of WASM memory (${mib(memory.usedBytes)} of its ${
      mib(memory.limitBytes)
    } budget in use; a room needs ${mib(service.initialPages * PAGE_BYTES)}); try again later`,
  );
}
