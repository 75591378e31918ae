/**
 * Where a service's rooms run: native services and in-process WASM in this process, or WASM
 * rooms in a pool of room host processes.
 *
 * @module
 */

import { LocalEngine } from "../room/local_engine.ts";
import type { Logger } from "../util/logger.ts";
import type { Metrics } from "../http/metrics.ts";
import { RoomHostPool } from "../room_host/pool.ts";
import type { RoomEngineFactory } from "../room/room_engine.ts";
import {
  type JamsocketServiceClass,
  type JamsocketServiceFactory,
  toServiceFactory,
} from "../service.ts";
import { WasmService } from "../wasm/host.ts";

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
   * Most WASM rooms per room host (or in this process when `roomHosts` is 0); past it, new rooms
   * get 503. Well below the ~32,000 WASM memories at which V8 ends the process.
   * @default {3000}
   */
  roomsPerHost?: number;
  /**
   * Seconds one event may run in a room host; past it the host is killed, its rooms crash (1011)
   * and a new host starts. Many short events in a row never add up to it.
   * @default {2}
   */
  cpuLimit?: number;
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
  if (service instanceof WasmService && hosts > 0) {
    const pool = new RoomHostPool(service, {
      hosts,
      roomsPerHost,
      cpuLimit: options.cpuLimit ?? 2,
      command: options.roomHostCommand,
      logger,
      metrics,
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
      close: () => pool.close(),
    };
  }
  const isWasm = service instanceof WasmService;
  const factory = isWasm ? service.factory : toServiceFactory(service);
  return {
    engineFactory: (roomId, output) => new LocalEngine(roomId, factory, output, logger),
    capacity: isWasm ? roomsPerHost : Infinity,
    hosts: 0,
    queueDepth: 0,
    close: () => Promise.resolve(),
  };
}
