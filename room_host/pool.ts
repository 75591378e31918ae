/**
 * A pool of room host processes for one WASM service: places rooms on them, watches that every
 * event finishes within the CPU limit, and replaces a host that hangs or dies.
 *
 * @module
 */

import { basename } from "node:path";
import { HttpError } from "../http/http_error.ts";
import { describeError, type Logger } from "../util/logger.ts";
import type { Metrics } from "../http/metrics.ts";
import type { RoomEngineFactory } from "../room/room_engine.ts";
import { guestMetering, type WasmService } from "../wasm/host.ts";
import { WASM_ROOMS_V8_FLAGS } from "../wasm/v8_flags.ts";
import { HostProcess, type HostProcessConfig } from "./host_process.ts";
import { PROGRESS_INTERVAL_MS } from "./protocol.ts";
import { RemoteEngine } from "./remote_engine.ts";

/** Options of a {@linkcode RoomHostPool}. */
export interface RoomHostPoolOptions {
  /** How many host processes run the rooms. */
  readonly hosts: number;
  /** Most rooms on one host; past it on every host, new rooms get 503. */
  readonly roomsPerHost: number;
  /**
   * Seconds one event may run before its host is killed and its rooms crashed (a burst of short
   * events never adds up to it: the host reports progress between them).
   */
  readonly cpuLimit: number;
  /**
   * The command that starts a host; the path of the Unix socket it must connect to is appended.
   * By default this Deno runs `host_main.ts`.
   */
  readonly command?: readonly string[];
  /** Where logs go. */
  readonly logger: Logger;
  /** Counters (host restarts). */
  readonly metrics: Metrics;
  /** The server-wide WASM memory budget in bytes, shared equally by the hosts. */
  readonly memoryBudget?: number;
}

/** The fuel budgets of a metered guest in a host: no time slicing, the front's calibration. */
function limitsOf(cpuLimit: number) {
  const { fuelPerEvent, fuelPerSlice } = guestMetering({ cpuLimit, timeSlice: 0 });
  return { fuelPerEvent, fuelPerSlice, cpuLimit };
}

/** The longest wait before starting a host again after hosts keep failing to start. */
const MAX_BACKOFF_MS = 10_000;

/** The hidden `jamsocket` subcommand a compiled binary runs its room hosts with. */
export const ROOM_HOST_COMMAND = "__room-host";

/**
 * The command that starts a room host connected to `socketPath`: this Deno running
 * `host_main.ts` with no permission but that socket and V8 set for many WASM rooms
 * ({@linkcode WASM_ROOMS_V8_FLAGS}), or, inside a `deno compile`d `jamsocket`
 * binary, the binary itself with `__room-host`.
 *
 * @example
 * ```ts
 * import { defaultHostCommand } from "./pool.ts";
 *
 * const [deno, ...args] = defaultHostCommand("/tmp/jamsocket-x/host-1.sock");
 * ```
 */
export function defaultHostCommand(socketPath: string): string[] {
  const exe = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exe))) return [exe, ROOM_HOST_COMMAND, socketPath];
  const main = new URL("./host_main.ts", import.meta.url).href;
  const socket = [
    `--allow-read=${socketPath}`,
    `--allow-write=${socketPath}`,
    `--allow-net=unix:${socketPath}`,
  ];
  const v8 = `--v8-flags=${WASM_ROOMS_V8_FLAGS}`;
  return [exe, "run", "--quiet", "--no-config", "--no-prompt", v8, ...socket, main, socketPath];
}

/**
 * Runs a WASM service's rooms in child processes. The front keeps every socket; each room lives
 * on one host, chosen as the one with the fewest rooms, so that a room that spins harms as few
 * others as possible. A watchdog kills a host whose current event has run past `cpuLimit`
 * seconds, crashes the rooms on it (clients closed with 1011) and starts a replacement. Each
 * room it opens gets an incarnation number, so that what a host says about a closed room never
 * reaches a new room of the same id.
 *
 * @example
 * ```ts ignore
 * const pool = new RoomHostPool(service, { hosts: 2, roomsPerHost: 3000, cpuLimit: 2, logger, metrics });
 * const registry = new RoomRegistry(pool.engineFactory, { capacity: () => pool.capacity, ... });
 * ```
 */
export class RoomHostPool {
  /** Builds a room's engine on the least loaded host. */
  readonly engineFactory: RoomEngineFactory;
  readonly #options: RoomHostPoolOptions;
  readonly #config: HostProcessConfig;
  /** One slot per host; empty while its host waits to be started again. */
  readonly #hosts: (HostProcess | undefined)[];
  readonly #watchdog: ReturnType<typeof setInterval>;
  readonly #socketDir: string;
  #nextId = 1;
  #nextIncarnation = 1;
  #closed = false;
  /** Hosts in a row that died (or could not be started) before they were ready. */
  #failures = 0;
  readonly #respawns = new Set<ReturnType<typeof setTimeout>>();

  /** Start `options.hosts` processes and load `service` into each. */
  constructor(service: WasmService, options: RoomHostPoolOptions) {
    if (service.bytes === undefined) {
      throw new TypeError(
        `Cannot run "${service.name}" in room hosts: it was loaded from a compiled WebAssembly.Module; load it from a path or bytes`,
      );
    }
    this.#options = options;
    this.#socketDir = Deno.makeTempDirSync({ prefix: "jamsocket-hosts-" });
    const command = options.command;
    this.#config = {
      command: command ? (path) => [...command, path] : defaultHostCommand,
      socketDir: this.#socketDir,
      load: {
        name: service.name,
        maxMemoryPages: service.options.maxMemoryPages,
        args: [...service.options.args],
        env: { ...service.options.env },
        metering: service.metered,
        limits: service.metered ? limitsOf(options.cpuLimit) : undefined,
        memoryBudget: options.memoryBudget === undefined
          ? undefined
          : Math.floor(options.memoryBudget / options.hosts),
      },
      module: service.bytes,
      logger: options.logger,
      onExit: (host, status) => {
        host.lost(status);
        const delay = this.#replace(host);
        options.logger.error(
          `Room host ${host.id} exited unexpectedly (${
            status.signal ?? `code ${status.code}`
          }); starting another${delay > 0 ? ` in ${delay} ms` : ""}`,
        );
      },
    };
    this.#hosts = Array.from({ length: options.hosts }, () => undefined);
    for (let slot = 0; slot < options.hosts; slot++) this.#start(slot);
    // A metered guest stops itself at the CPU limit; the watchdog is the backstop.
    const limitMs = (service.metered ? options.cpuLimit * 2 + 1 : options.cpuLimit) * 1000;
    const everyMs = Math.min(250, limitMs / 4);
    let lastCheck = performance.now();
    this.#watchdog = setInterval(() => {
      const now = performance.now();
      const lateMs = now - lastCheck - everyMs;
      this.#check(now, limitMs, lateMs > everyMs ? lateMs : 0);
      lastCheck = now;
    }, everyMs);
    Deno.unrefTimer(Number(this.#watchdog));
    this.engineFactory = (roomId, output) => {
      const host = this.#place();
      let incarnation = this.#nextIncarnation;
      while (host.rooms.has(incarnation)) incarnation = nextIncarnation(incarnation);
      this.#nextIncarnation = nextIncarnation(incarnation);
      const engine = new RemoteEngine(roomId, incarnation, output, host);
      host.rooms.set(incarnation, engine);
      return engine;
    };
  }

  /** Host processes running. */
  get size(): number {
    return this.#running().length;
  }

  /**
   * Most open rooms the pool can hold now: a place per room on each running host, less the
   * places still held by rooms that are closing. While the rooms open are fewer, a new room
   * finds a place; once they are as many, {@linkcode RoomHostPool.engineFactory} would refuse
   * (503), so check this before accepting a WebSocket.
   */
  get capacity(): number {
    let capacity = 0;
    for (const host of this.#running()) {
      capacity += this.#options.roomsPerHost - host.closingRooms;
    }
    return capacity;
  }

  /** Frames sent to hosts and not yet handled. */
  get queueDepth(): number {
    return this.#running().reduce((sum, host) => sum + host.outstanding, 0);
  }

  /** Stop every host: its socket closes and it exits (killed if it does not within 2 s). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    for (const timer of this.#respawns) clearTimeout(timer);
    await Promise.all(this.#hosts.map((host) => host?.stop()));
    await Deno.remove(this.#socketDir, { recursive: true }).catch(() => {});
  }

  #running(): HostProcess[] {
    return this.#hosts.filter((host): host is HostProcess => host?.alive === true);
  }

  /** Start a host in `slot`; when it cannot even be started, log why and try again later. */
  #start(slot: number): void {
    const id = this.#nextId++;
    try {
      this.#hosts[slot] = new HostProcess(id, this.#config);
    } catch (error) {
      this.#hosts[slot] = undefined;
      const delay = this.#retry(slot, false);
      this.#options.logger.error(
        `Cannot start room host ${id}: ${describeError(error)}; trying again in ${delay} ms`,
      );
    }
  }

  #place(): HostProcess {
    let best: HostProcess | undefined;
    for (const host of this.#running()) {
      if (best === undefined || host.rooms.size < best.rooms.size) best = host;
    }
    if (best === undefined) throw new HttpError(503, "No room host is running; try again later");
    if (best.rooms.size >= this.#options.roomsPerHost) {
      const max = this.#options.roomsPerHost * this.#hosts.length;
      throw new HttpError(503, `Server is at capacity (${max} WASM rooms); try again later`);
    }
    return best;
  }

  /**
   * Kill every host whose current event has run past the limit. An event is allowed the limit
   * plus twice the host's progress interval (its DONE may come that much after the event
   * started); time this process itself was stalled (`lateMs`: the watchdog ran that late) does
   * not count against a host, whose progress may be waiting unread.
   */
  #check(now: number, limitMs: number, lateMs: number): void {
    const allowedMs = limitMs + 2 * PROGRESS_INTERVAL_MS;
    for (const host of this.#running()) {
      if (host.busySince === undefined) continue;
      if (lateMs > 0) host.busySince += lateMs;
      if (now - host.busySince <= allowedMs) continue;
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

  /**
   * Start a host in `host`'s place: at once, or, when hosts keep dying before they are ready (a
   * broken command, a module the host cannot load), after a delay that doubles up to 10 s.
   * Returns the delay in ms.
   */
  #replace(host: HostProcess): number {
    const slot = this.#hosts.indexOf(host);
    if (slot < 0 || this.#closed) return 0;
    this.#options.metrics.roomHostRestarts++;
    return this.#retry(slot, host.ready);
  }

  /** Start a host in `slot` after a delay that grows while hosts fail before being ready. */
  #retry(slot: number, wasReady: boolean): number {
    this.#failures = wasReady ? 0 : this.#failures + 1;
    const delay = wasReady ? 0 : Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.#failures - 1));
    if (delay === 0) {
      this.#start(slot);
      return 0;
    }
    const timer = setTimeout(() => {
      this.#respawns.delete(timer);
      if (!this.#closed) this.#start(slot);
    }, delay);
    this.#respawns.add(timer);
    return delay;
  }
}

/** The incarnation after `n`: 1 to 2³² − 1, then 1 again (0 is never used). */
function nextIncarnation(n: number): number {
  return n >= 0xffff_ffff ? 1 : n + 1;
}
