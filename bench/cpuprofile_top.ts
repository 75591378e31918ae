/**
 * Summarise V8 CPU profiles (`.cpuprofile`, from `deno run --cpu-prof` or `node --cpu-prof`):
 * the functions with the most self time, and the self time by where the code lives (this
 * repository's files, Deno's runtime, npm packages, V8's own states such as GC and idle).
 *
 * ```sh
 * deno run -A bench/cpuprofile_top.ts /tmp/prof/*.cpuprofile [--top 25]
 * deno run -A bench/cpuprofile_top.ts /tmp/prof/*.cpuprofile --callers DOMException
 * ```
 *
 * `--callers NAME` shows, for the functions whose name contains NAME, the call paths (`--depth`
 * frames, 8 by default) that their self time came from.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A V8 CPU profile, as written to a `.cpuprofile` file. */
export interface CpuProfile {
  /** The call tree's nodes. */
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    hitCount?: number;
    children?: number[];
  }[];
  /** Microseconds. */
  startTime: number;
  /** Microseconds. */
  endTime: number;
  /** The node sampled at each tick. */
  samples: number[];
  /** Microseconds before each sample. */
  timeDeltas: number[];
}

/** Self time of one function (or one group of code). */
export interface SelfTime {
  /** `function url:line`, or the group's name. */
  name: string;
  /** Milliseconds. */
  ms: number;
  /** Share of all samples, 0–1. */
  share: number;
}

const REPO = new URL("..", import.meta.url).href;

function where(url: string): string {
  if (url === "") return "V8 / native";
  if (url.startsWith(REPO)) return "this repository";
  if (url.startsWith("ext:") || url.startsWith("node:")) return "Deno runtime (ext:, node:)";
  if (url.includes("/node_modules/")) return "npm packages";
  if (url.startsWith("node:internal") || !url.includes("://")) return "Node runtime";
  return "other";
}

function label(frame: CpuProfile["nodes"][number]["callFrame"]): string {
  const name = frame.functionName || "(anonymous)";
  if (frame.url === "") return name;
  const file = frame.url.startsWith(REPO) ? frame.url.slice(REPO.length) : frame.url;
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function and per place of code, over one or more profiles, largest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selfTimes } from "./cpuprofile_top.ts";
 *
 * const { functions } = selfTimes([{
 *   nodes: [{ id: 1, callFrame: { functionName: "(idle)", url: "", lineNumber: -1, columnNumber: -1 } }],
 *   startTime: 0, endTime: 10, samples: [1, 1], timeDeltas: [5, 5],
 * }]);
 * assert.equal(functions[0].name, "(idle)");
 * assert.equal(functions[0].ms, 0.01);
 * ```
 */
export function selfTimes(
  profiles: readonly CpuProfile[],
): { functions: SelfTime[]; places: SelfTime[]; totalMs: number } {
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let total = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    profile.samples.forEach((id, i) => {
      const micros = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
      const node = nodes.get(id);
      if (node === undefined || micros < 0) return;
      const name = label(node.callFrame);
      const place = node.callFrame.url === "" ? node.callFrame.functionName : "";
      byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
      const group = ["(idle)", "(garbage collector)", "(program)"].includes(place)
        ? place
        : where(node.callFrame.url);
      byPlace.set(group, (byPlace.get(group) ?? 0) + micros);
      total += micros;
    });
  }
  const sorted = (map: Map<string, number>) =>
    [...map].map(([name, micros]) => ({ name, ms: micros / 1000, share: micros / total }))
      .sort((a, b) => b.ms - a.ms);
  return { functions: sorted(byFunction), places: sorted(byPlace), totalMs: total / 1000 };
}

/**
 * The call paths (innermost first, up to `depth` frames) that the self time of functions whose
 * label contains `name` came from, largest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { callers } from "./cpuprofile_top.ts";
 *
 * const frame = (functionName: string) => ({ functionName, url: "", lineNumber: -1, columnNumber: -1 });
 * const paths = callers([{
 *   nodes: [{ id: 1, callFrame: frame("outer"), children: [2] }, { id: 2, callFrame: frame("inner") }],
 *   startTime: 0, endTime: 10, samples: [2, 2], timeDeltas: [5, 5],
 * }], "inner");
 * assert.equal(paths[0].name, "inner ← outer");
 * ```
 */
export function callers(profiles: readonly CpuProfile[], name: string, depth = 8): SelfTime[] {
  const byPath = new Map<string, number>();
  let total = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) {
      for (const child of node.children ?? []) parents.set(child, node.id);
    }
    profile.samples.forEach((id, i) => {
      const micros = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
      total += micros;
      const node = nodes.get(id);
      if (node === undefined || !label(node.callFrame).includes(name)) return;
      const path: string[] = [];
      for (let at: number | undefined = id; at !== undefined && path.length < depth;) {
        const frame = nodes.get(at)!.callFrame;
        if (frame.functionName !== "(root)") path.push(label(frame));
        at = parents.get(at);
      }
      const key = path.join(" ← ");
      byPath.set(key, (byPath.get(key) ?? 0) + micros);
    });
  }
  return [...byPath].map(([path, micros]) => ({
    name: path,
    ms: micros / 1000,
    share: micros / total,
  }))
    .sort((a, b) => b.ms - a.ms);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      top: { type: "string", default: "25" },
      callers: { type: "string" },
      depth: { type: "string", default: "8" },
    },
  });
  const profiles = positionals.map((path) => JSON.parse(Deno.readTextFileSync(path)) as CpuProfile);
  if (values.callers !== undefined) {
    for (
      const path of callers(profiles, values.callers, Number(values.depth)).slice(
        0,
        Number(values.top),
      )
    ) {
      console.log(
        `${(path.share * 100).toFixed(1).padStart(5)}%  ${
          path.ms.toFixed(1).padStart(9)
        } ms  ${path.name}`,
      );
    }
    Deno.exit(0);
  }
  const { functions, places, totalMs } = selfTimes(profiles);
  const busy = places.filter((p) => p.name !== "(idle)").reduce((sum, p) => sum + p.ms, 0);
  console.log(
    `${positionals.length} profile(s), ${totalMs.toFixed(0)} ms sampled, ${
      busy.toFixed(0)
    } ms not idle\n`,
  );
  console.log("self time by place:");
  for (const place of places) {
    console.log(
      `  ${(place.share * 100).toFixed(1).padStart(5)}%  ${
        place.ms.toFixed(1).padStart(9)
      } ms  ${place.name}`,
    );
  }
  console.log(`\ntop ${values.top} functions by self time:`);
  for (const fn of functions.slice(0, Number(values.top))) {
    console.log(
      `  ${(fn.share * 100).toFixed(1).padStart(5)}%  ${
        fn.ms.toFixed(1).padStart(9)
      } ms  ${fn.name}`,
    );
  }
}
