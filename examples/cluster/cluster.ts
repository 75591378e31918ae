/**
 * A Jamsocket cluster on one machine: a Redis, three nodes and nginx in front, all on loopback.
 *
 * ```sh
 * deno run -A examples/cluster/cluster.ts                 # round robin on :8080
 * deno run -A examples/cluster/cluster.ts --mode hash     # hash $room consistent
 * deno run -A examples/cluster/cluster.ts --nodes 2 --service examples/counter.ts
 * ```
 *
 * Then connect to `ws://127.0.0.1:8080/ws/{room}`; Ctrl-C stops everything. Needs Debian's
 * `redis-server` and `nginx` (`apt-get install -y redis-server nginx`); nothing runs as a daemon,
 * every file lives in a temporary folder.
 *
 * @module
 */

import { parseArgs } from "node:util";

const HERE = new URL(".", import.meta.url).pathname;
const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** How nginx spreads clients over the nodes. */
export type FrontMode = "round-robin" | "hash";

/** Options of {@linkcode startExample}. */
export interface ExampleOptions {
  /** nginx's policy. @default {"round-robin"} */
  mode?: FrontMode;
  /** nginx's port on 127.0.0.1. @default {8080} */
  port?: number;
  /** How many nodes. @default {3} */
  nodes?: number;
  /** Ports of the nodes. @default {8081, 8082, …} */
  nodePorts?: number[];
  /** The service module the nodes serve. @default {examples/chat.ts} */
  service?: string;
  /** An existing Redis; without it one is started on `redisPort`. */
  redis?: string;
  /** Port of the Redis started here. @default {6390} */
  redisPort?: number;
  /** Extra flags for every node (`--cluster-lease 1`). */
  nodeFlags?: string[];
  /** Environment of node `i` (the tests name their nodes). */
  nodeEnv?: (index: number) => Record<string, string>;
  /** Where progress goes. @default {console.log} */
  log?: (line: string) => void;
  /** Drop what Redis, the nodes and nginx print (instead of passing it through). */
  quiet?: boolean;
}

/** The running example. */
export interface Example {
  /** `http://127.0.0.1:PORT` of nginx. */
  readonly url: string;
  /** The Redis the nodes share. */
  readonly redis: string;
  /** The nodes' processes and ports. */
  readonly nodes: { readonly process: Deno.ChildProcess; readonly port: number }[];
  /** Stop nginx, the nodes (SIGTERM: they drain) and the Redis started here. */
  stop(): Promise<void>;
}

/**
 * Arguments of a `redis-server` on 127.0.0.1:`port` that keeps nothing on disk (a demo's or a
 * benchmark's; a real cluster wants persistence: see the README's Cluster section).
 */
export function redisServerArgs(port: number, dir: string): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
  ];
}

/** Start Redis (unless given), the nodes, and nginx in front of them. */
export async function startExample(options: ExampleOptions = {}): Promise<Example> {
  const log = options.log ?? ((line: string) => console.log(line));
  output = options.quiet ? "null" : "inherit";
  const mode = options.mode ?? "round-robin";
  const count = options.nodes ?? options.nodePorts?.length ?? 3;
  const port = options.port ?? 8080;
  const nodePorts = options.nodePorts ?? Array.from({ length: count }, (_, i) => port + 1 + i);
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-cluster-" });
  await Deno.chmod(dir, 0o755);
  const children: Deno.ChildProcess[] = [];
  const stop = async () => {
    for (const child of children.toReversed()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    let redis = options.redis;
    if (redis === undefined) {
      const redisPort = options.redisPort ?? 6390;
      children.push(spawn("redis-server", redisServerArgs(redisPort, dir)));
      redis = `redis://127.0.0.1:${redisPort}`;
      await waitFor(() => tcpOpen(redisPort), `Redis on :${redisPort}`, children[0]);
    }
    const service = options.service ?? new URL("../chat.ts", import.meta.url).pathname;
    const nodes = nodePorts.map((nodePort, i) => {
      const flags = ["--cluster", redis!, "--port", String(nodePort), "--hostname", "127.0.0.1"];
      if (mode === "hash") flags.push("--placement", "local");
      const process = spawn(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "serve",
        service,
        ...flags,
        ...options.nodeFlags ?? [],
      ], options.nodeEnv?.(i));
      children.push(process);
      return { process, port: nodePort };
    });
    for (const node of nodes) {
      await waitFor(
        async () => {
          try {
            const response = await fetch(`http://127.0.0.1:${node.port}/cluster`);
            return (await response.json()).nodes?.length === count;
          } catch {
            return false;
          }
        },
        `node on :${node.port}`,
        node.process,
      );
    }
    const template = await Deno.readTextFile(
      `${HERE}nginx_${mode === "hash" ? "hash" : "round_robin"}.conf`,
    );
    const config = template
      .replaceAll("{{DIR}}", dir)
      .replaceAll("{{PORT}}", String(port))
      .replace(
        /^\{\{UPSTREAMS\}\}$/m,
        nodePorts.map((p) => `    server 127.0.0.1:${p};`).join("\n"),
      );
    await Deno.writeTextFile(`${dir}/nginx.conf`, config);
    const nginx = spawn("nginx", [
      "-p",
      dir,
      "-c",
      `${dir}/nginx.conf`,
      "-e",
      "stderr",
      "-g",
      "daemon off;",
    ]);
    children.push(nginx);
    await waitFor(() => tcpOpen(port), `nginx on :${port}`, nginx);
    log(
      `Cluster of ${count} nodes (${nodePorts.join(", ")}) on ${redis}, nginx ${mode} on :${port}`,
    );
    return { url: `http://127.0.0.1:${port}`, redis, nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Whether the children's output passes through (set by each {@linkcode startExample}). */
let output: "inherit" | "null" = "inherit";

function spawn(command: string, args: string[], env?: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(command, { args, env, stdin: "null", stdout: output, stderr: output })
    .spawn();
}

async function tcpOpen(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Poll `ready` every 50 ms for at most 30 s, failing at once if `child` exits. */
async function waitFor(
  ready: () => Promise<boolean>,
  what: string,
  child: Deno.ChildProcess,
): Promise<void> {
  let exited: Deno.CommandStatus | undefined;
  void child.status.then((status) => exited = status);
  for (let i = 0; i < 600; i++) {
    if (exited !== undefined) throw new Error(`${what} exited with code ${exited.code}`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not start within 30 s`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mode: { type: "string" },
      port: { type: "string" },
      nodes: { type: "string" },
      service: { type: "string" },
      redis: { type: "string" },
    },
  });
  if (values.mode !== undefined && values.mode !== "round-robin" && values.mode !== "hash") {
    console.error(`error: --mode is round-robin or hash, got '${values.mode}'`);
    Deno.exit(2);
  }
  const example = await startExample({
    mode: values.mode as FrontMode | undefined,
    port: values.port === undefined ? undefined : Number(values.port),
    nodes: values.nodes === undefined ? undefined : Number(values.nodes),
    service: values.service,
    redis: values.redis,
  });
  console.log(`Connect to ${example.url.replace("http", "ws")}/ws/{room}; Ctrl-C stops it all`);
  const stop = () => void example.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
