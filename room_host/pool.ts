/**
 * A pool of room host processes for one WASM service: places rooms on them, watches that every
 * event finishes within the CPU limit, and replaces a host that hangs or dies.
 *
 * @module
 */

import { basename } from "node:path";
import { HttpError } from "../http_error.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics.ts";
import type { RoomEngineFactory } from "../room_engine.ts";
import type { WasmService } from "../wasm/host.ts";
import { HostProcess, type HostProcessConfig } from "./host_process.ts";
import { RemoteEngine } from "./remote_engine.ts";

/** Options of a {@linkcode RoomHostPool}. */
export interface RoomHostPoolOptions {
  /** How many host processes run the rooms. */
  readonly hosts: number;
  /** Most rooms on one host; past it on every host, new rooms get 503. */
  readonly roomsPerHost: number;
  /** Seconds an event may run before its host is killed and its rooms crashed. */
  readonly cpuLimit: number;
  /** The command that starts a host; by default this Deno runs `host_main.ts`. */
  readonly command?: readonly string[];
  /** Where logs go. */
  readonly logger: Logger;
  /** Counters (host restarts). */
  readonly metrics: Metrics;
}

/** The hidden `jamsocket` subcommand a compiled binary runs its room hosts with. */
export const ROOM_HOST_COMMAND = "__room-host";

/**
 * The command that starts a room host: this Deno running `host_main.ts` with no permissions, or,
 * inside a `deno compile`d `jamsocket` binary, the binary itself with `__room-host`.
 *
 * @example
 * ```ts
 * import { defaultHostCommand } from "./pool.ts";
 *
 * const [deno, ...args] = defaultHostCommand();
 * ```
 */
export function defaultHostCommand(): string[] {
  const exe = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exe))) return [exe, ROOM_HOST_COMMAND];
  const main = new URL("./host_main.ts", import.meta.url).href;
  return [exe, "run", "--quiet", "--no-config", "--no-prompt", main];
}

/**
 * Runs a WASM service's rooms in child processes. The front keeps every socket; each room lives
 * on one host, chosen as the one with the fewest rooms, so that a room that spins harms as few
 * others as possible. A watchdog kills a host whose work made no progress for `cpuLimit` seconds,
 * crashes the rooms on it (clients closed with 1011) and starts a replacement.
 *
 * @example
 * ```ts ignore
 * const pool = new RoomHostPool(service, { hosts: 2, roomsPerHost: 3000, cpuLimit: 2, logger, metrics });
 * const registry = new RoomRegistry(pool.engineFactory, config);
 * ```
 */
export class RoomHostPool {
  /** Builds a room's engine on the least loaded host. */
  readonly engineFactory: RoomEngineFactory;
  readonly #options: RoomHostPoolOptions;
  readonly #config: HostProcessConfig;
  readonly #hosts: HostProcess[] = [];
  readonly #watchdog: ReturnType<typeof setInterval>;
  #nextId = 1;
  #closed = false;

  /** Start `options.hosts` processes and load `service` into each. */
  constructor(service: WasmService, options: RoomHostPoolOptions) {
    if (service.bytes === undefined) {
      throw new TypeError(
        `Cannot run "${service.name}" in room hosts: it was loaded from a compiled WebAssembly.Module; load it from a path or bytes`,
      );
    }
    this.#options = options;
    this.#config = {
      command: options.command ?? defaultHostCommand(),
      load: {
        name: service.name,
        maxMemoryPages: service.options.maxMemoryPages,
        args: [...service.options.args],
        env: { ...service.options.env },
      },
      module: service.bytes,
      logger: options.logger,
      onExit: (host, status) => {
        host.lost(status);
        options.logger.error(
          `Room host ${host.id} exited unexpectedly (${
            status.signal ?? `code ${status.code}`
          }); starting another`,
        );
        this.#replace(host);
      },
    };
    for (let i = 0; i < options.hosts; i++) this.#hosts.push(this.#spawn());
    const limitMs = options.cpuLimit * 1000;
    this.#watchdog = setInterval(() => this.#check(limitMs), Math.min(250, limitMs / 4));
    Deno.unrefTimer(Number(this.#watchdog));
    this.engineFactory = (roomId, output) => {
      const host = this.#place();
      const engine = new RemoteEngine(roomId, output, host);
      host.rooms.set(roomId, engine);
      return engine;
    };
  }

  /** Host processes running. */
  get size(): number {
    return this.#hosts.length;
  }

  /** Frames sent to hosts and not yet handled. */
  get queueDepth(): number {
    return this.#hosts.reduce((sum, host) => sum + host.outstanding, 0);
  }

  /** Stop every host: stdin closes and each exits (killed if it does not within 2 s). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    await Promise.all(this.#hosts.map((host) => host.stop()));
  }

  #spawn(): HostProcess {
    return new HostProcess(this.#nextId++, this.#config);
  }

  #place(): HostProcess {
    let best = this.#hosts[0];
    for (const host of this.#hosts) if (host.rooms.size < best.rooms.size) best = host;
    if (best === undefined || best.rooms.size >= this.#options.roomsPerHost) {
      const max = this.#options.roomsPerHost * this.#hosts.length;
      throw new HttpError(503, `Server is at capacity (${max} WASM rooms); try again later`);
    }
    return best;
  }

  #check(limitMs: number): void {
    const now = performance.now();
    for (const host of this.#hosts) {
      if (host.busySince === undefined || now - host.busySince <= limitMs) continue;
      const rooms = host.rooms.size;
      this.#options.logger.error(
        `Room host ${host.id} made no progress for ${this.#options.cpuLimit} s (CPU limit); stopping it and crashing its ${rooms} room${
          rooms === 1 ? "" : "s"
        }`,
      );
      host.kill(
        "cpu_limit",
        `Room host stopped: an event ran past the CPU limit of ${this.#options.cpuLimit} s`,
      );
      this.#replace(host);
    }
  }

  #replace(host: HostProcess): void {
    const index = this.#hosts.indexOf(host);
    if (index < 0 || this.#closed) return;
    this.#options.metrics.roomHostRestarts++;
    this.#hosts[index] = this.#spawn();
  }
}
