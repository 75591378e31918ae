/**
 * Turns the benchmark's runs into markdown: the machine, one table per scenario (medians of the
 * interleaved repetitions, with their spread and the ratio to the bare-Deno baseline), and the
 * project's targets with what they came out at.
 *
 * @module
 */

import type { LoadResult } from "./load.ts";
import type { MachineInfo } from "./proc.ts";
import { type MetricDef, type ScenarioName, SCENARIOS, type ScenarioSpec } from "./scenarios.ts";
import { BASELINE, type ServerDef } from "./servers.ts";
import { median } from "./stats.ts";

/** Every run of one scenario against one server, in order. */
export type Runs = Map<
  ScenarioName,
  { spec: ScenarioSpec; byServer: Map<string, LoadResult[]> }
>;

/** What the report says about how it was made. */
export interface ReportContext {
  /** The machine. */
  readonly machine: MachineInfo;
  /** The command line. */
  readonly command: string;
  /** Short or long. */
  readonly long: boolean;
  /** Heartbeats as shipped, or off. */
  readonly heartbeat: boolean;
  /** The load generator's WebSocket client. */
  readonly client: "raw" | "deno";
  /** Share of the machine's CPU that was busy during the run (0–1). */
  readonly machineBusy: number;
  /** Share of the machine's CPU used by processes other than this benchmark's (0–1). */
  readonly othersBusy: number;
  /** Wall time of the whole run, in seconds. */
  readonly seconds: number;
  /** The servers that ran, in column order. */
  readonly servers: readonly ServerDef[];
  /** When it ran. */
  readonly date: Date;
}

/** One figure of each of one server's runs of a scenario, in rep order (NaN where a run failed). */
function figuresOf(runs: Runs, scenario: ScenarioName, server: string, key: string): number[] {
  return (runs.get(scenario)?.byServer.get(server) ?? []).map((r) =>
    r.ok && key in r.metrics ? r.metrics[key] : NaN
  );
}

/** The median of one figure over one server's successful runs of a scenario. */
function medianOf(
  runs: Runs,
  scenario: ScenarioName,
  server: string,
  key: string,
): number {
  return median(figuresOf(runs, scenario, server, key));
}

function spreadOf(
  runs: Runs,
  scenario: ScenarioName,
  server: string,
  key: string,
): number {
  const values = figuresOf(runs, scenario, server, key).filter((value) => !Number.isNaN(value));
  if (values.length < 2) return NaN;
  const mid = median(values);
  return (Math.max(...values) - Math.min(...values)) / 2 / Math.abs(mid);
}

function format(value: number, digits: number, grouping = true): string {
  if (Number.isNaN(value)) return "–";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    useGrouping: grouping,
  });
}

function cell(
  runs: Runs,
  scenario: ScenarioName,
  server: string,
  metric: MetricDef,
): string {
  const results = runs.get(scenario)?.byServer.get(server);
  if (results === undefined) return "";
  const failed = results.filter((r) => !r.ok).length;
  if (failed === results.length) return "✗ failed";
  const value = medianOf(runs, scenario, server, metric.key);
  let text = format(value, metric.digits, !metric.plain);
  const spread = spreadOf(runs, scenario, server, metric.key);
  if (metric.better !== "info" && spread >= 0.005) {
    text += ` ±${Math.round(spread * 100)}%`;
  }
  if (metric.better !== "info" && server !== BASELINE) {
    const base = medianOf(runs, scenario, BASELINE, metric.key);
    if (base > 0 && value >= 0) text += ` (${(value / base).toFixed(2)}×)`;
  }
  if (failed > 0) text += ` (${failed} failed)`;
  return text;
}

/**
 * A markdown table with its columns padded to one width (as `deno fmt` lays them out); the first
 * column is left-aligned, the others right-aligned when `numeric`.
 */
function table(header: readonly string[], rows: readonly string[][], numeric: boolean): string[] {
  const width = (text: string) => [...text].length;
  const widths = header.map((h, i) => Math.max(3, width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const pad = (text: string, i: number) => {
    const fill = " ".repeat(widths[i] - width(text));
    return numeric && i > 0 ? fill + text : text + fill;
  };
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(" | ")} |`;
  const rule = widths.map((w, i) => numeric && i > 0 ? "-".repeat(w - 1) + ":" : "-".repeat(w));
  return [line(header), `| ${rule.join(" | ")} |`, ...rows.map(line)];
}

/** One row of the targets table. */
interface TargetRow {
  target: string;
  measured: string;
  verdict: "met" | "missed" | "not run";
}

/** A ratio with two decimals, or three where two would round onto a bound and hide the verdict. */
function ratioText(ratio: number, bound: { min?: number; max?: number }): string {
  const near = [bound.min, bound.max].some((b) => b !== undefined && Math.abs(ratio - b) < 0.005);
  return ratio.toFixed(near ? 3 : 2);
}

function ratioRow(
  runs: Runs,
  target: string,
  scenario: ScenarioName,
  key: string,
  server: string,
  against: string,
  bound: { min?: number; max?: number },
  digits: number,
): TargetRow {
  const value = medianOf(runs, scenario, server, key);
  const base = medianOf(runs, scenario, against, key);
  if (Number.isNaN(value) || Number.isNaN(base) || base === 0) {
    return { target, measured: "–", verdict: "not run" };
  }
  const ratio = value / base;
  const met = (bound.min === undefined || ratio >= bound.min) &&
    (bound.max === undefined || ratio <= bound.max);
  return {
    target,
    measured: `${ratioText(ratio, bound)}× (${format(value, digits)} vs ${format(base, digits)})`,
    verdict: met ? "met" : "missed",
  };
}

/** One figure of one server against another's, in one scenario, for the targets table. */
interface Comparison {
  readonly target: string;
  readonly scenario: ScenarioName;
  readonly key: string;
  readonly server: string;
  readonly against: string;
}

/**
 * A target row for `server` against `against` on one figure, from paired repetitions: the runs
 * interleave (A B, B A, …), so the ratio of each rep's two runs cancels the drift that both
 * share (a VM's neighbours, its clock), and the row gives the median of those ratios with their
 * range.
 */
function pairedRatioRow(runs: Runs, comparison: Comparison, max: number): TargetRow {
  const { target, scenario, key, server, against } = comparison;
  const theirs = figuresOf(runs, scenario, against, key);
  const ratios = figuresOf(runs, scenario, server, key).flatMap((value, rep) => {
    const base = theirs[rep];
    return Number.isNaN(value) || !(base > 0) ? [] : [value / base];
  });
  if (ratios.length === 0) return { target, measured: "–", verdict: "not run" };
  const ratio = median(ratios);
  return {
    target,
    measured: `${ratioText(ratio, { max })}×, median of ${ratios.length} paired runs (${
      Math.min(...ratios).toFixed(2)
    }–${Math.max(...ratios).toFixed(2)}×)`,
    verdict: ratio <= max ? "met" : "missed",
  };
}

const THROUGHPUT: readonly [ScenarioName, string][] = [
  ["echo", "msgsPerS"],
  ["echo1", "msgsPerS"],
  ["fanout", "deliveriesPerS"],
  ["connect", "connsPerS"],
  ["rooms", "roomsPerS"],
  ["churn", "opsPerS"],
];

function targets(runs: Runs): TargetRow[] {
  const rows: TargetRow[] = [
    ratioRow(
      runs,
      "native vs bare Deno: echo messages/s ≥ 0.9×",
      "echo",
      "msgsPerS",
      "jamsocket",
      BASELINE,
      { min: 0.9 },
      0,
    ),
    ratioRow(
      runs,
      "native vs bare Deno: echo p99 latency ≤ 1.2×",
      "echo",
      "p99Ms",
      "jamsocket",
      BASELINE,
      { max: 1.2 },
      3,
    ),
    ratioRow(
      runs,
      "native vs bare Deno: echo p99 latency ≤ 1.2×, 1 client",
      "echo1",
      "p99Ms",
      "jamsocket",
      BASELINE,
      { max: 1.2 },
      3,
    ),
    ratioRow(
      runs,
      "native vs bare Deno: fanout deliveries/s ≥ 0.9×",
      "fanout",
      "deliveriesPerS",
      "jamsocket",
      BASELINE,
      { min: 0.9 },
      0,
    ),
  ];
  const ours = medianOf(runs, "connect", "jamsocket", "kibPerConn");
  const bare = medianOf(runs, "connect", BASELINE, "kibPerConn");
  rows.push(
    Number.isNaN(ours) || Number.isNaN(bare)
      ? {
        target: "native: memory per idle connection ≤ bare + 2 KiB",
        measured: "–",
        verdict: "not run",
      }
      : {
        target: "native: memory per idle connection ≤ bare + 2 KiB",
        measured: `${format(ours, 1)} KiB vs ${format(bare, 1)} KiB (${
          ours - bare >= 0 ? "+" : ""
        }${format(ours - bare, 1)} KiB)`,
        verdict: ours <= bare + 2 ? "met" : "missed",
      },
    ratioRow(
      runs,
      "WASM twin (in-process) vs native: echo messages/s ≥ 0.8×",
      "echo",
      "msgsPerS",
      "jamsocket-wasm",
      "jamsocket",
      { min: 0.8 },
      0,
    ),
    ratioRow(
      runs,
      "WASM twin (room hosts) vs native: echo messages/s ≥ 0.8×",
      "echo",
      "msgsPerS",
      "jamsocket-hosts",
      "jamsocket",
      { min: 0.8 },
      0,
    ),
  );
  rows.push(pairedRatioRow(runs, {
    target: "recording vs not: echo server CPU µs/message ≤ 1.1×",
    scenario: "echo",
    key: "serverUsPerMsg",
    server: "jamsocket-record",
    against: "jamsocket",
  }, 1.1));
  const hostRooms = runs.get("rooms")?.byServer.get("jamsocket-hosts");
  if (hostRooms === undefined) {
    rows.push({
      target: "10,000 WASM rooms across room hosts",
      measured: "–",
      verdict: "not run",
    });
  } else {
    const best = Math.max(
      0,
      ...hostRooms.map((r) => r.ok ? r.metrics.rooms : 0),
    );
    const failure = hostRooms.find((r) => !r.ok);
    rows.push({
      target: "10,000 WASM rooms across room hosts",
      measured: best > 0
        ? `${format(best, 0)} rooms live, ${
          format(medianOf(runs, "rooms", "jamsocket-hosts", "kibPerRoom"), 1)
        } KiB/room, ${
          format(medianOf(runs, "rooms", "jamsocket-hosts", "rssAfterMiB"), 0)
        } MiB total`
        : `failed: ${failure && !failure.ok ? failure.error : "?"}`,
      verdict: best >= 10_000 ? "met" : "missed",
    });
  }
  for (const server of ["jamsocket", "jamsocket-wasm", "jamsocket-hosts"]) {
    const ratios = THROUGHPUT.flatMap(([scenario, key]) => {
      const value = medianOf(runs, scenario, server, key);
      const peer = medianOf(runs, scenario, "socket.io", key);
      return Number.isNaN(value) || Number.isNaN(peer) ? [] : [{ scenario, ratio: value / peer }];
    });
    const target = `${server} ahead of Socket.IO on every throughput figure`;
    if (ratios.length === 0) {
      rows.push({ target, measured: "–", verdict: "not run" });
      continue;
    }
    rows.push({
      target,
      measured: ratios.map((r) => `${r.scenario} ${r.ratio.toFixed(2)}×`).join(
        ", ",
      ),
      verdict: ratios.every((r) => r.ratio > 1) ? "met" : "missed",
    });
  }
  return rows;
}

/**
 * Render the whole report as markdown.
 *
 * @example
 * ```ts ignore
 * console.log(renderReport(runs, context));
 * ```
 */
export function renderReport(runs: Runs, context: ReportContext): string {
  const { machine } = context;
  const lines: string[] = [];
  lines.push(`## Jamsocket benchmark (${context.long ? "long" : "short"} run)`);
  lines.push("");
  lines.push(
    `- Date: ${context.date.toISOString().slice(0, 16).replace("T", " ")} UTC`,
  );
  lines.push(`- Command: \`${context.command}\``);
  lines.push(
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB RAM, Linux ${machine.kernel}`,
  );
  lines.push(`- Runtimes: ${machine.deno}; node ${machine.node}`);
  lines.push(
    `- Load: 1-minute load average ${machine.loadAverage.toFixed(2)} at the start; over the ${
      Math.round(context.seconds)
    } s run the machine's CPU was ${Math.round(context.machineBusy * 100)}% busy: this benchmark ${
      Math.round((context.machineBusy - context.othersBusy) * 100)
    }%, other processes (other people's work) ${Math.round(context.othersBusy * 100)}%`,
  );
  lines.push(
    `- Heartbeats: ${
      context.heartbeat
        ? "as shipped (ours: ping after 30 s of silence, idleTimeout 60 s; bare Deno: idleTimeout 60 s; Socket.IO: pingInterval 25 s; Node ws: none); no run lasts long enough for a ping"
        : "off (ours: `--heartbeat-interval 0`; bare Deno: idleTimeout 0)"
    }`,
  );
  lines.push(
    `- Every server is its own process on 127.0.0.1, started fresh for every run; ours with \`--shutdown-policy immediate\`. Load from a separate Deno process (${
      context.client === "raw" ? "bench/raw_websocket.ts, TCP_NODELAY" : "Deno's WebSocket client"
    }; \`socket.io-client\` for Socket.IO).`,
  );
  lines.push("");
  lines.push("Servers:");
  for (const server of context.servers) {
    lines.push(`- **${server.name}**: ${server.description}`);
  }
  for (const [scenario, { spec, byServer }] of runs) {
    const def = SCENARIOS[scenario];
    const servers = context.servers.filter((s) => byServer.has(s.name));
    const reps = Math.max(...[...byServer.values()].map((r) => r.length));
    lines.push("");
    lines.push(`### ${scenario}: ${def.describe(spec)}`);
    lines.push("");
    lines.push(
      reps > 1
        ? `Median of ${reps} interleaved runs, ± half the range, (ratio to ${
          servers.some((s) => s.name === BASELINE) ? BASELINE : "–"
        }).`
        : "One run.",
    );
    lines.push("");
    lines.push(
      ...table(
        ["figure", ...servers.map((s) => s.name)],
        def.metrics.map((metric) => [
          metric.label,
          ...servers.map((s) => cell(runs, scenario, s.name, metric)),
        ]),
        true,
      ),
    );
    const failures = [...byServer].flatMap(([server, results]) =>
      results.flatMap((r) => r.ok ? [] : [`${server}: ${r.error.split("\n")[0].slice(0, 300)}`])
    );
    const notes = [...byServer].flatMap(([server, results]) =>
      [...new Set(results.flatMap((r) => r.ok ? r.notes : []))].map((n) => `${server}: ${n}`)
    );
    for (const line of [...failures.map((f) => `✗ ${f}`), ...notes]) {
      lines.push(`\n> ${line}`);
    }
  }
  lines.push("");
  lines.push("### Targets");
  lines.push("");
  const verdicts = { met: "✓ met", missed: "✗ missed", "not run": "not run" } as const;
  const all = targets(runs);
  const evaluated = all.filter((t) => t.verdict !== "not run");
  lines.push(
    ...table(
      ["target", "measured (medians)", "verdict"],
      evaluated.map((t) => [t.target, t.measured, verdicts[t.verdict]]),
      false,
    ),
  );
  if (evaluated.length < all.length) {
    lines.push("");
    lines.push(
      `${
        all.length - evaluated.length
      } more target(s) need scenarios or servers this run left out.`,
    );
  }
  lines.push("");
  return lines.join("\n");
}
