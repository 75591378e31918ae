/**
 * The `cluster` scenario of `deno task bench`: a Redis and two `jamsocket serve` nodes of the
 * echo service, as processes on 127.0.0.1.
 *
 * - **Forwarding cost**: server CPU (both nodes, user + system) per echoed message for clients
 *   connected to the room's owner, and for the same number of clients connected to the other node
 *   (every frame crosses the link twice). The two runs alternate (local, forwarded, local, …) and
 *   the report gives the medians and their ratio (target ≤ 2×).
 * - **Healing**: a node that owns a room is killed with SIGKILL; the time until a client that
 *   connects through the surviving node gets an answer from the room again (p50 and max; target
 *   ≤ 5 s with the default 3 s lease).
 *
 * ```sh
 * deno task bench --scenarios cluster          # inside the whole benchmark
 * deno run -A bench/cluster.ts                 # alone
 * ```
 *
 * @module
 */

import { redisServerArgs } from "../examples/cluster/cluster.ts";
import { openConn, openMany } from "./client.ts";
import type { Conn } from "./conn.ts";
import { cpuTime } from "./proc.ts";
import { Child, DENO, freePort } from "./servers.ts";
import { median } from "./stats.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** The shared counter: with one client per room, its broadcast is an echo. */
const SERVICE = `${ROOT}examples/counter.ts`;

/** How big the scenario is. */
export interface ClusterBenchSpec {
  /** Alternating local/forwarded echo runs of each kind. */
  readonly reps: number;
  /** Clients echoing at once (closed loop, one message in flight each), one per room. */
  readonly clients: number;
  /** Measured time of one echo run, after a warm-up of a fifth of it. */
  readonly echoMs: number;
  /** Kills measured. */
  readonly heals: number;
}

/** The short and long sizes. */
export const CLUSTER_SPECS: { short: ClusterBenchSpec; long: ClusterBenchSpec } = {
  short: { reps: 3, clients: 20, echoMs: 3000, heals: 5 },
  long: { reps: 5, clients: 50, echoMs: 10_000, heals: 10 },
};

interface Node {
  readonly child: Child;
  readonly port: number;
}

async function startNode(redis: string, log: (line: string) => void): Promise<Node> {
  const port = freePort();
  const child = new Child([
    DENO,
    "run",
    "-A",
    `${ROOT}cli.ts`,
    "serve",
    SERVICE,
    "--cluster",
    redis,
    "--placement",
    "local",
    "--port",
    String(port),
    "--hostname",
    "127.0.0.1",
  ], ROOT);
  for (let i = 0; i < 600; i++) {
    if (child.exited) throw new Error(`Node exited:\n${child.output.slice(-2000)}`);
    if (/Cluster: node \w+ registered/.test(child.output)) {
      log(`node on :${port} (pid ${child.pid}) registered`);
      return { child, port };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await child.stop();
  throw new Error("Node did not register within 30 s");
}

function cpuMs(nodes: readonly Node[]): number {
  return nodes.reduce((sum, node) => {
    const time = cpuTime(node.child.pid);
    return sum + time.user + time.system;
  }, 0);
}

/** Open a connection, retrying while the room finds a node (bounded by `ms`). */
async function openRetrying(port: number, room: string, ms: number): Promise<Conn> {
  const deadline = performance.now() + ms;
  for (let attempt = 0;; attempt++) {
    try {
      return await openConn({ protocol: "ws", port, pid: 0 }, room, 5000);
    } catch (error) {
      if (performance.now() > deadline || attempt > 500) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** One answer from `conn` to `text`, or a rejection after `ms`. */
function echo(conn: Conn, text: string, ms = 5000): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(() => reject(new Error("no answer")), ms);
  conn.onText = () => {
    clearTimeout(timer);
    resolve();
  };
  conn.send(text);
  return promise;
}

/** Closed-loop echo through `conns` for a warm-up then `ms`: messages and CPU µs per message. */
async function echoRun(conns: Conn[], nodes: readonly Node[], ms: number): Promise<number> {
  let counting = false;
  let messages = 0;
  let stopped = false;
  const payload = "x".repeat(64);
  for (const conn of conns) {
    conn.onText = () => {
      if (counting) messages++;
      if (!stopped) conn.send(payload);
    };
    conn.send(payload);
  }
  await new Promise((resolve) => setTimeout(resolve, ms / 5));
  const cpuStart = cpuMs(nodes);
  counting = true;
  await new Promise((resolve) => setTimeout(resolve, ms));
  counting = false;
  const cpu = cpuMs(nodes) - cpuStart;
  stopped = true;
  await new Promise((resolve) => setTimeout(resolve, 200));
  return (cpu * 1000) / messages;
}

/** Run the scenario; resolves with its section of the report (markdown). */
export async function runClusterBench(
  spec: ClusterBenchSpec,
  log: (line: string) => void = (line) => console.error(line),
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-bench-redis-" });
  const redisPort = freePort();
  const redis = new Child(["redis-server", ...redisServerArgs(redisPort, dir)], ROOT);
  const url = `redis://127.0.0.1:${redisPort}`;
  const nodes: Node[] = [];
  try {
    const a = await startNode(url, log);
    const b = await startNode(url, log);
    nodes.push(a, b);
    const rooms = Array.from({ length: spec.clients }, (_, i) => `echo-${i}`);
    // The rooms go to node a: its first client claims each (placement local).
    for (const room of rooms) {
      const conn = await openRetrying(a.port, room, 10_000);
      await echo(conn, "claim");
      conn.close();
    }
    const local: number[] = [];
    const forwarded: number[] = [];
    for (let rep = 1; rep <= spec.reps; rep++) {
      for (
        const [kind, node, into] of [["local", a, local], ["forwarded", b, forwarded]] as const
      ) {
        const conns = await openMany(
          spec.clients,
          16,
          (i) => openRetrying(node.port, rooms[i], 10_000),
        );
        const perMessage = await echoRun(conns, nodes, spec.echoMs);
        into.push(perMessage);
        for (const conn of conns) {
          conn.close();
        }
        log(
          `cluster echo ${rep}/${spec.reps} ${kind.padEnd(9)} ${perMessage.toFixed(1)} µs/message`,
        );
      }
    }
    const heals: number[] = [];
    for (let k = 1; k <= spec.heals; k++) {
      const victim = await startNode(url, log);
      nodes.push(victim);
      const room = `heal-${k}`;
      // The victim owns the room once it is past its first lease period.
      await echo(await openRetrying(victim.port, room, 15_000), "claim", 15_000);
      const watcher = await openRetrying(a.port, room, 5000);
      await echo(watcher, "through a");
      // Kill at a random point of the renewal cycle (the claim above ends right after a renewal).
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 750));
      Deno.kill(victim.child.pid, "SIGKILL");
      const killed = performance.now();
      await victim.child.status;
      for (let attempt = 0;; attempt++) {
        try {
          const conn = await openRetrying(a.port, room, 20_000);
          await echo(conn, "back?", 2000);
          conn.close();
          break;
        } catch (error) {
          if (attempt > 50) throw error;
        }
      }
      const ms = performance.now() - killed;
      heals.push(ms);
      watcher.close();
      await victim.child.stop();
      nodes.splice(nodes.indexOf(victim), 1);
      log(`cluster heal ${k}/${spec.heals} ${ms.toFixed(0)} ms`);
    }
    return report(spec, local, forwarded, heals);
  } finally {
    for (const node of nodes) await node.child.stop();
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function report(
  spec: ClusterBenchSpec,
  local: number[],
  forwarded: number[],
  heals: number[],
): string {
  const ratio = median(forwarded) / median(local);
  const sorted = heals.toSorted((x, y) => x - y);
  const fmt = (values: number[]) => values.map((v) => v.toFixed(1)).join(", ");
  return [
    "## cluster",
    "",
    `Two nodes and a Redis on 127.0.0.1 (default 3 s lease); ${spec.clients} clients echoing (the shared counter, one client per room) in rooms owned by node a, closed loop; CPU of both nodes (user + system) per message; runs alternate local / forwarded.`,
    "",
    "| figure | value | target |",
    "| --- | ---: | ---: |",
    `| echo, clients on the owner: server CPU µs/message (median of ${fmt(local)}) | ${
      median(local).toFixed(1)
    } | |`,
    `| echo, clients on the other node: server CPU µs/message (median of ${fmt(forwarded)}) | ${
      median(forwarded).toFixed(1)
    } | |`,
    `| forwarded / local | ${ratio.toFixed(2)}× | ≤ 2× ${ratio <= 2 ? "✓" : "✗"} |`,
    `| kill -9 of the owner → answering again through the other node: p50 (ms) | ${
      median(heals).toFixed(0)
    } | ≤ 5000 ${median(heals) <= 5000 ? "✓" : "✗"} |`,
    `| … max (ms), of ${heals.length} kills | ${sorted.at(-1)!.toFixed(0)} | ≤ 5000 ${
      sorted.at(-1)! <= 5000 ? "✓" : "✗"
    } |`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  const long = Deno.args.includes("--long");
  console.log(await runClusterBench(long ? CLUSTER_SPECS.long : CLUSTER_SPECS.short));
}
