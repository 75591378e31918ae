/**
 * `deno task bench`: start each server under test as its own process, drive it from a separate
 * load generator process (`load.ts`), interleave the repetitions (A B C, then C B A, …: each
 * server's place in the order alternates, so drift and order cancel), and print a markdown
 * report with the machine, medians, ratios to the bare-Deno baseline and the targets.
 *
 * ```sh
 * deno task bench                                  # short run, every scenario and server
 * deno task bench --scenarios echo,fanout --servers jamsocket,deno --reps 5
 * deno task bench --long --save                    # long run, written to bench/results.md too
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { ClientKind } from "./client.ts";
import { CLUSTER_SPECS, runClusterBench } from "./cluster.ts";
import type { LoadRequest, LoadResult } from "./load.ts";
import { type CpuSnapshot, cpuSnapshot, machineInfo, ownCpuMs } from "./proc.ts";
import { renderReport, type Runs } from "./report.ts";
import { SCENARIO_NAMES, type ScenarioName, SCENARIOS, type ScenarioSpec } from "./scenarios.ts";
import {
  Child,
  DENO,
  freePort,
  orphanCpuMs,
  type ServerDef,
  SERVERS,
  startServer,
  stopAll,
} from "./servers.ts";

/** Every scenario: the per-server ones, and `cluster` (two nodes and a Redis; see cluster.ts). */
const ALL_SCENARIOS = [...SCENARIO_NAMES, "cluster"] as const;

const HELP = `Usage: deno task bench [OPTIONS]

Options:
  --scenarios <LIST>  Comma-separated: ${ALL_SCENARIOS.join(", ")} [default: all]
  --servers <LIST>    Comma-separated: ${SERVERS.map((s) => s.name).join(", ")} [default: all]
  --reps <N>          Interleaved repetitions of each scenario [default: per scenario]
  --long              Bigger and longer scenarios (tens of minutes)
  --no-heartbeat      Heartbeats off for ours and the bare baseline
  --client <KIND>     WebSocket client of the load generator: raw (TCP_NODELAY, parses a
                      whole read at once) or deno (Deno's WebSocket) [default: raw]
  --save              Also write the report to bench/results.md
  --json <FILE>       Also write every run's raw figures as JSON
  --cpu-prof <DIR>    Run the servers (and room hosts) under --cpu-prof, profiles in DIR;
                      summarise with: deno run -A bench/cpuprofile_top.ts DIR/*.cpuprofile
  -h, --help          Print help`;

const ROOT = new URL("..", import.meta.url).pathname;

/** The hard limit for one load generator run, from its spec. */
function timeoutFor(spec: ScenarioSpec): number {
  switch (spec.kind) {
    case "echo":
    case "churn":
      return spec.warmupMs + spec.durationMs + 30_000;
    case "hog":
      return spec.baselineMs + spec.cpuLimitS * 1000 + 30_000;
    default:
      return 180_000;
  }
}

/** Cap the `rooms` scenario to what the server can hold. */
function specFor(spec: ScenarioSpec, server: ServerDef): ScenarioSpec {
  if (
    spec.kind === "rooms" && server.maxRooms !== undefined &&
    spec.rooms > server.maxRooms
  ) {
    return { ...spec, rooms: server.maxRooms };
  }
  return spec;
}

/** Run the load generator once, in its own process; kill it past its time limit. */
async function runLoadProcess(request: LoadRequest): Promise<LoadResult> {
  const child = new Child([
    DENO,
    "run",
    "-A",
    "bench/load.ts",
    JSON.stringify(request),
  ], ROOT);
  const limit = timeoutFor(request.spec);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limit);
  });
  const outcome = await Promise.race([child.status, timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    await child.stop();
    return {
      ok: false,
      error: `Load generator timed out after ${limit / 1000} s`,
    };
  }
  await child.stop();
  const line = child.output.trim().split("\n").findLast((l) => l.startsWith("{"));
  if (line === undefined) {
    return {
      ok: false,
      error: `Load generator printed no result:\n${child.output.slice(-1000)}`,
    };
  }
  return JSON.parse(line) as LoadResult;
}

/** Start the server, run the load, stop the server (with its room hosts). */
async function runOnce(
  server: ServerDef,
  scenario: ScenarioName,
  spec: ScenarioSpec,
  options: {
    heartbeat: boolean;
    client: ClientKind;
    spinModule?: string;
    prefix: string;
    cpuProfDir?: string;
  },
): Promise<LoadResult> {
  const port = freePort();
  let child: Child;
  try {
    child = await startServer(server, {
      port,
      scenario,
      heartbeat: options.heartbeat,
      spinModule: options.spinModule,
      cpuProfDir: options.cpuProfDir,
    }, ROOT);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  try {
    const result = await runLoadProcess({
      target: {
        protocol: server.protocol,
        port,
        pid: child.pid,
        client: options.client,
      },
      spec,
      prefix: options.prefix,
    });
    if (!result.ok && child.exited) {
      return {
        ok: false,
        error: `${result.error}; server exited:\n${child.output.slice(-1000)}`,
      };
    }
    return result;
  } finally {
    await child.stop(options.cpuProfDir === undefined ? 0 : 15_000);
  }
}

/** A folder of its own for one run's profiles (created), or undefined when not profiling. */
function profileDir(
  root: string | undefined,
  scenario: string,
  server: string,
  rep: number,
): string | undefined {
  if (root === undefined) return undefined;
  Deno.mkdirSync(root, { recursive: true });
  const dir = `${Deno.realPathSync(root)}/${scenario}-${server}-${rep}`;
  Deno.mkdirSync(dir, { recursive: true });
  return dir;
}

/** How busy the machine was since `start`, and how much of that was not this benchmark. */
function machineLoad(
  start: CpuSnapshot,
  ownStart: number,
): { machineBusy: number; othersBusy: number } {
  const now = cpuSnapshot();
  const total = now.total - start.total;
  if (total <= 0) return { machineBusy: 0, othersBusy: 0 };
  const busy = total - (now.idle - start.idle);
  const own = ownCpuMs() - ownStart + orphanCpuMs();
  return { machineBusy: busy / total, othersBusy: Math.max(0, busy - own) / total };
}

/** Install the Node packages (`npm ci` in bench/node/) when one is missing. */
async function ensureNodeModules(): Promise<void> {
  const dir = `${ROOT}bench/node`;
  const missing = ["ws", "socket.io", "socket.io-client"].filter((name) => {
    try {
      Deno.statSync(`${dir}/node_modules/${name}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  console.error(`Installing ${missing.join(", ")} into bench/node/node_modules (npm ci)…`);
  const { success } = await new Deno.Command("npm", {
    args: ["ci", "--no-audit", "--no-fund", "--loglevel", "error"],
    cwd: dir,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("npm ci in bench/node/ failed");
}

function summary(result: LoadResult, scenario: ScenarioName): string {
  if (!result.ok) return `✗ ${result.error.split("\n")[0].slice(0, 200)}`;
  const main = SCENARIOS[scenario].metrics[0];
  const value = result.metrics[main.key];
  return `${value.toLocaleString("en-US", { maximumFractionDigits: main.digits })} ${main.label}`;
}

function pick<T extends string>(
  text: string | undefined,
  all: readonly T[],
  what: string,
): T[] {
  if (text === undefined) return [...all];
  const names = text.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!all.includes(name as T)) {
      throw new Error(
        `Unknown ${what} "${name}"; expected one of: ${all.join(", ")}`,
      );
    }
  }
  return names as T[];
}

/**
 * Run the benchmark with command-line `args`; resolves with the exit code (0 when every run
 * succeeded, 1 when some failed, 2 for a bad command line).
 *
 * @example
 * ```ts ignore
 * Deno.exit(await main(["--scenarios", "echo", "--servers", "jamsocket,deno"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let values;
  let scenarios: (ScenarioName | "cluster")[];
  let servers: ServerDef[];
  try {
    ({ values } = parseArgs({
      args,
      options: {
        scenarios: { type: "string" },
        servers: { type: "string" },
        reps: { type: "string" },
        long: { type: "boolean", default: false },
        "no-heartbeat": { type: "boolean", default: false },
        client: { type: "string", default: "raw" },
        save: { type: "boolean", default: false },
        json: { type: "string" },
        "cpu-prof": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
    scenarios = pick(values.scenarios, ALL_SCENARIOS, "scenario");
    const names = pick(values.servers, SERVERS.map((s) => s.name), "server");
    servers = SERVERS.filter((s) => names.includes(s.name));
    if (values.client !== "raw" && values.client !== "deno") {
      throw new Error(`--client expects raw or deno, got "${values.client}"`);
    }
    if (values.reps !== undefined && !(Number(values.reps) >= 1)) {
      throw new Error(`--reps expects a number >= 1, got "${values.reps}"`);
    }
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const long = values.long;
  const heartbeat = !values["no-heartbeat"];
  const client = values.client as ClientKind;
  const started = performance.now();
  const cpuStart = cpuSnapshot();
  const ownStart = ownCpuMs();
  const machine = await machineInfo();
  console.error(
    `${machine.cpu}, ${machine.cores} cores, load average ${machine.loadAverage.toFixed(2)}`,
  );
  if (servers.some((s) => s.node || s.protocol === "socketio")) await ensureNodeModules();
  // tests/fixtures/hog.wat: echoes, and spins forever on "spin" (the hog's room id does not start
  // with "hog", so its connect does not spin).
  const spinModule = scenarios.includes("hog")
    ? new URL("../tests/fixtures/hog.wasm", import.meta.url).pathname
    : undefined;
  const cleanup = stopAll;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error("\nInterrupted: stopping every server and load generator…");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const runs: Runs = new Map();
  const raw: unknown[] = [];
  let failed = 0;
  let clusterSection = "";
  try {
    let runId = 0;
    for (const scenario of scenarios) {
      if (scenario === "cluster") continue;
      const def = SCENARIOS[scenario];
      const spec = long ? def.long : def.short;
      const reps = values.reps !== undefined ? Number(values.reps) : def.reps[long ? 1 : 0];
      const chosen = servers.filter((s) => def.only === undefined || def.only.includes(s.name));
      if (chosen.length === 0) continue;
      const byServer = new Map<string, LoadResult[]>();
      runs.set(scenario, { spec, byServer });
      for (let rep = 1; rep <= reps; rep++) {
        for (const server of rep % 2 === 1 ? chosen : [...chosen].reverse()) {
          const prefix = `b${Date.now().toString(36)}${runId++}`;
          const serverSpec = specFor(spec, server);
          const result = await runOnce(server, scenario, serverSpec, {
            heartbeat,
            client,
            spinModule,
            prefix,
            cpuProfDir: profileDir(values["cpu-prof"], scenario, server.name, rep),
          });
          if (!result.ok) failed++;
          byServer.set(server.name, [
            ...(byServer.get(server.name) ?? []),
            result,
          ]);
          raw.push({
            scenario,
            rep,
            server: server.name,
            spec: serverSpec,
            result,
          });
          console.error(
            `${scenario} ${rep}/${reps} ${server.name.padEnd(15)} ${summary(result, scenario)}`,
          );
        }
      }
    }
    if (scenarios.includes("cluster")) {
      try {
        const spec = long ? CLUSTER_SPECS.long : CLUSTER_SPECS.short;
        const reps = values.reps === undefined ? spec.reps : Number(values.reps);
        clusterSection = await runClusterBench({ ...spec, reps });
      } catch (error) {
        failed++;
        clusterSection = `## cluster\n\n✗ ${(error as Error).message.split("\n")[0]}\n`;
        console.error(`cluster ✗ ${(error as Error).message}`);
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await cleanup();
  }
  const report = renderReport(runs, {
    machine,
    command: ["deno task bench", ...args].join(" "),
    long,
    heartbeat,
    client,
    ...machineLoad(cpuStart, ownStart),
    seconds: (performance.now() - started) / 1000,
    servers,
    date: new Date(),
  }) + (clusterSection === "" ? "" : `\n${clusterSection}`);
  console.log(report);
  if (values.save) {
    const path = `${ROOT}bench/results.md`;
    await Deno.writeTextFile(path, report);
    // Leave it as `deno fmt` would (the repository's `deno fmt --check` covers it).
    await new Deno.Command(DENO, { args: ["fmt", "--quiet", path], cwd: ROOT }).output();
    console.error("Saved to bench/results.md");
  }
  if (values.json !== undefined) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ machine, runs: raw }, null, 2),
    );
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
