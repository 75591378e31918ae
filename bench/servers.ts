/**
 * The servers under test, each started as its own process on its own port on 127.0.0.1, and the
 * bookkeeping that stops every process the benchmark started — on success, failure or Ctrl-C.
 *
 * @module
 */

import type { Protocol } from "./client.ts";
import { cpuTime, descendants } from "./proc.ts";
import type { ScenarioName } from "./scenarios.ts";
import { WASM_ROOMS_V8_FLAGS } from "../wasm/v8_flags.ts";

/** The Deno running this benchmark: servers and load generators run on the same one. */
export const DENO: string = Deno.execPath();

/** What a server's command line may depend on. */
export interface ServerContext {
  /** The port to listen on. */
  readonly port: number;
  /** The scenario about to run (room hosts are sized for `rooms`; `hog` serves the spinner). */
  readonly scenario: ScenarioName;
  /** Heartbeats as shipped (`true`), or off for ours and the bare baseline. */
  readonly heartbeat: boolean;
  /** Path of the spinning guest, for `hog`. */
  readonly spinModule?: string;
  /** Write CPU profiles here (`--cpu-prof`), room hosts' too; the server is stopped gracefully. */
  readonly cpuProfDir?: string;
}

/** A server under test. */
export interface ServerDef {
  /** Its column in the table. */
  readonly name: string;
  /** What it is, for the legend. */
  readonly description: string;
  /** How the load generator talks to it. */
  readonly protocol: Protocol;
  /** Runs on Node (needs `bench/node/node_modules`). */
  readonly node: boolean;
  /** Most rooms it can hold (the `rooms` scenario is capped to it). */
  readonly maxRooms?: number;
  /** Its command line, run from the repository root. */
  command(context: ServerContext): string[];
}

/** `jamsocket serve` with the flags every run of ours shares (`denoFlags` before the script). */
function jamsocket(
  module: string,
  context: ServerContext,
  extra: string[],
  denoFlags: string[] = [],
): string[] {
  return [
    DENO,
    "run",
    "-A",
    ...denoFlags,
    ...profileFlags(context),
    "cli.ts",
    "serve",
    module,
    "--port",
    String(context.port),
    "--hostname",
    "127.0.0.1",
    "--shutdown-policy",
    "immediate",
    ...(context.heartbeat ? [] : ["--heartbeat-interval", "0"]),
    ...extra,
  ];
}

/** The spinning guest the `hog` scenario serves. */
function spinModuleOf(context: ServerContext): string {
  if (context.spinModule === undefined) throw new Error("The hog scenario needs its module");
  return context.spinModule;
}

/** `--cpu-prof --cpu-prof-dir <dir>` when profiling (the same flags for Deno and Node). */
function profileFlags(context: ServerContext): string[] {
  return context.cpuProfDir === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${context.cpuProfDir}`];
}

let recordings: string | undefined;

/** One temporary folder for every recording run of this benchmark (`--record` bounds its size). */
function recordDir(): string {
  return recordings ??= Deno.makeTempDirSync({ prefix: "jamsocket-bench-recordings-" });
}

/** A bare counter server (`bench/servers/`), with the heartbeat `jamsocket serve` derives. */
function bare(file: string, context: ServerContext): string[] {
  return [
    DENO,
    "run",
    "-A",
    ...profileFlags(context),
    file,
    "--port",
    String(context.port),
    // What `jamsocket serve` derives from its default heartbeat flags: min(120, 2 × 30) s.
    "--idle-timeout",
    context.heartbeat ? "60" : "0",
  ];
}

/** The baseline the ratios are computed against. */
export const BASELINE = "deno";

/** Every server, in table order. */
export const SERVERS: readonly ServerDef[] = [
  {
    name: "jamsocket",
    description: "ours, native TS: `jamsocket serve examples/counter.ts`",
    protocol: "ws",
    node: false,
    command: (context) => jamsocket("examples/counter.ts", context, []),
  },
  {
    name: "jamsocket-record",
    description:
      "ours, native TS with every room recorded: `serve examples/counter.ts --record <temp dir>`",
    protocol: "ws",
    node: false,
    command: (context) => jamsocket("examples/counter.ts", context, ["--record", recordDir()]),
  },
  {
    name: "jamsocket-wasm",
    description:
      "ours, WASM as `jamsocket serve examples/wasm/counter.wasm` runs it: metered and time sliced, in-process (`hog`: `--cpu-limit 1`)",
    protocol: "ws",
    node: false,
    maxRooms: 3000,
    command: (context) =>
      context.scenario === "hog"
        ? jamsocket(spinModuleOf(context), context, ["--cpu-limit", "1"])
        : jamsocket("examples/wasm/counter.wasm", context, []),
  },
  {
    name: "jamsocket-wasm-v8",
    description:
      "ours, WASM in-process as `jamsocket-wasm`, with the V8 flags the README gives for many WASM rooms (`wasm/v8_flags.ts`)",
    protocol: "ws",
    node: false,
    maxRooms: 3000,
    command: (context) =>
      jamsocket("examples/wasm/counter.wasm", context, [], [`--v8-flags=${WASM_ROOMS_V8_FLAGS}`]),
  },
  {
    name: "jamsocket-wasm-sync",
    description:
      "ours, WASM in-process, metered without time slicing: `serve examples/wasm/counter.wasm --time-slice 0`",
    protocol: "ws",
    node: false,
    maxRooms: 3000,
    command: (context) => jamsocket("examples/wasm/counter.wasm", context, ["--time-slice", "0"]),
  },
  {
    name: "jamsocket-wasm-plain",
    description:
      "ours, WASM in-process, not metered (`bench/servers/wasm_unmetered.ts`): what metering costs",
    protocol: "ws",
    node: false,
    maxRooms: 3000,
    command: (context) => [
      DENO,
      "run",
      "-A",
      ...profileFlags(context),
      "bench/servers/wasm_unmetered.ts",
      "examples/wasm/counter.wasm",
      "--port",
      String(context.port),
      ...(context.heartbeat ? [] : ["--heartbeat-interval", "0"]),
    ],
  },
  {
    name: "jamsocket-hosts",
    description:
      "ours, WASM in room hosts: `--room-hosts 2` (`rooms`: `--room-hosts 4 --rooms-per-host 3000`)",
    protocol: "ws",
    node: false,
    command: (context) => {
      if (context.scenario === "hog") {
        return jamsocket(spinModuleOf(context), context, [
          "--room-hosts",
          "2",
          "--cpu-limit",
          "1",
        ]);
      }
      const hosts = context.scenario === "rooms"
        ? ["--room-hosts", "4", "--rooms-per-host", "3000"]
        : ["--room-hosts", "2"];
      if (context.cpuProfDir !== undefined) {
        // The CLI cannot put its room hosts under --cpu-prof; this wrapper of serve() can.
        return [
          DENO,
          "run",
          "-A",
          ...profileFlags(context),
          "bench/profiled_hosts_server.ts",
          "examples/wasm/counter.wasm",
          "--port",
          String(context.port),
          ...(context.heartbeat ? [] : ["--heartbeat-interval", "0"]),
          ...hosts,
          `--cpu-prof-dir=${context.cpuProfDir}`,
        ];
      }
      return jamsocket("examples/wasm/counter.wasm", context, hosts);
    },
  },
  {
    name: BASELINE,
    description: "baseline, bare `Deno.serve` + `upgradeWebSocket` (bench/servers/bare_deno.ts)",
    protocol: "ws",
    node: false,
    command: (context) => bare("bench/servers/bare_deno.ts", context),
  },
  {
    name: "deno-front",
    description: "the same bare counter on our own front (bench/servers/bare_front.ts)",
    protocol: "ws",
    node: false,
    command: (context) => bare("bench/servers/bare_front.ts", context),
  },
  {
    name: "node-ws",
    description: "peer, Node + ws 8.23.0 (bench/node/node_ws.mjs; no heartbeat)",
    protocol: "ws",
    node: true,
    command: (context) => [
      "node",
      ...profileFlags(context),
      "bench/node/node_ws.mjs",
      "--port",
      String(context.port),
    ],
  },
  {
    name: "socket.io",
    description:
      "peer, Node + Socket.IO 4.8.4 rooms, WebSocket transport (bench/node/socketio.mjs)",
    protocol: "socketio",
    node: true,
    command: (context) => [
      "node",
      ...profileFlags(context),
      "bench/node/socketio.mjs",
      "--port",
      String(context.port),
    ],
  },
];

/** A child process whose output is kept (the tail) and which is stopped with its descendants. */
export class Child {
  /** The process id. */
  readonly pid: number;
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  readonly #process: Deno.ChildProcess;
  readonly #output: string[] = [];
  #exited = false;

  /** Start `command` in `cwd`; it is stopped by {@linkcode stopAll} if still running. */
  constructor(command: readonly string[], cwd: string) {
    this.#process = new Deno.Command(command[0], {
      args: command.slice(1),
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#process.pid;
    live.add(this);
    this.status = this.#process.status.then((status) => {
      this.#exited = true;
      return status;
    });
    void this.#drain(this.#process.stdout);
    void this.#drain(this.#process.stderr);
  }

  /** The process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Everything the process printed, stdout and stderr interleaved by arrival (the last 256 KiB). */
  get output(): string {
    return this.#output.join("");
  }

  /**
   * Kill the process (SIGKILL) and every descendant it has, and wait for it to exit. With
   * `graceMs`, ask first (SIGTERM) and wait that long, so that profiles get written.
   */
  async stop(graceMs = 0): Promise<void> {
    if (graceMs > 0 && !this.#exited) {
      try {
        Deno.kill(this.pid, "SIGTERM");
      } catch {
        // already gone
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.status,
        new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    live.delete(this);
    // The process itself is reaped (its CPU shows in our cutime); its descendants are not.
    if (!this.#exited) {
      for (const id of descendants(this.pid)) orphanCpu += cpuTime(id).user + cpuTime(id).system;
    }
    killTree(this.pid, this.#exited);
    await this.status;
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    let size = 0;
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      this.#output.push(text);
      size += text.length;
      while (size > 256 * 1024 && this.#output.length > 1) {
        size -= this.#output.shift()!.length;
      }
    }
  }
}

const live = new Set<Child>();
let orphanCpu = 0;

/**
 * CPU time, in ms, of the descendants of stopped children (room hosts): they are not reaped by
 * this process, so `cutime` misses them.
 *
 * @example
 * ```ts
 * import { orphanCpuMs } from "./servers.ts";
 *
 * const ms: number = orphanCpuMs();
 * ```
 */
export function orphanCpuMs(): number {
  return orphanCpu;
}

/** SIGKILL `pid` (parent first, so that it does not replace its children) and its descendants. */
function killTree(pid: number, exited: boolean): void {
  const ids = exited ? [] : [pid, ...descendants(pid)];
  for (const id of ids) {
    try {
      Deno.kill(id, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Stop every child still running (servers, load generators and their descendants).
 *
 * @example
 * ```ts ignore
 * Deno.addSignalListener("SIGINT", () => stopAll().then(() => Deno.exit(130)));
 * ```
 */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => child.stop()));
}

/**
 * A free TCP port on 127.0.0.1 (bound, read and released), so that every run gets a new port:
 * old connections in TIME_WAIT never collide with a new run's.
 *
 * @example
 * ```ts
 * import { freePort } from "./servers.ts";
 *
 * const port: number = freePort();
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Start `server` for `context` and wait until `GET /status` answers 200 (at most 30 s).
 *
 * @throws {Error} with the server's output when it exits or never answers.
 * @example
 * ```ts ignore
 * const child = await startServer(SERVERS[0], { port: freePort(), scenario: "echo", heartbeat: true }, root);
 * await child.stop();
 * ```
 */
export async function startServer(
  server: ServerDef,
  context: ServerContext,
  cwd: string,
): Promise<Child> {
  const child = new Child(server.command(context), cwd);
  const deadline = performance.now() + 30_000;
  // A client of its own, closed afterwards: no pooled keep-alive connection stays open.
  using client = Deno.createHttpClient({});
  while (performance.now() < deadline) {
    if (child.exited) break;
    try {
      const response = await fetch(`http://127.0.0.1:${context.port}/status`, {
        client,
      });
      await response.body?.cancel();
      if (response.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await child.stop();
  throw new Error(
    `Server "${server.name}" did not start:\n${child.output.slice(-2000)}`,
  );
}
