/**
 * Live WebAssembly memories in one process: the address space and memory mappings each takes
 * (with and without a declared maximum), instantiation time as they accumulate, and the fatal
 * out-of-memory cliff near 32,000 live memories (two mappings each against the kernel's
 * `vm.max_map_count`). The memories are made in a child process, which this script watches.
 *
 * ```sh
 * deno run -A scripts/facts/wasm_memories.ts              # up to 12,000 memories: the trend
 * deno run -A scripts/facts/wasm_memories.ts --max 40000  # the cliff: the child dies near 32.7k
 * deno run -A scripts/facts/wasm_memories.ts --max 40000 --maximum 16  # a maximum: the same cliff
 * ```
 *
 * @module
 */

import { procBytes, spawnSelf } from "./_facts.ts";
import { compileWat } from "./_wat.ts";

const STEP = 1000;
const mappingsBuffer = new Uint8Array(65536);

if (Deno.args[0] === "--child") {
  // Instantiate modules with one page of memory each (declared maximum or none) and keep them
  // all; after every STEP print: live memories, VmSize growth, mappings growth, ms for the STEP.
  const [count, maximum] = [Number(Deno.args[1]), Deno.args[2]];
  const module = compileWat(`(module (memory 1 ${maximum === "none" ? "" : maximum}))`);
  const kept: WebAssembly.Instance[] = [];
  const [vmBase, mapsBase] = [procBytes(Deno.pid, "VmSize"), mappings()];
  let start = performance.now();
  while (kept.length < count) {
    kept.push(new WebAssembly.Instance(module));
    if (kept.length % STEP !== 0) continue;
    const ms = performance.now() - start;
    const vm = procBytes(Deno.pid, "VmSize") - vmBase;
    console.log(`${kept.length} ${vm} ${mappings() - mapsBase} ${mappings()} ${ms}`);
    start = performance.now();
  }
} else {
  const maxIndex = Deno.args.indexOf("--max");
  const max = maxIndex < 0 ? 12_000 : Number(Deno.args[maxIndex + 1]);
  const limit = Number(Deno.readTextFileSync("/proc/sys/vm/max_map_count"));

  for (const maximum of ["none", "1024"]) {
    const [count, vm, maps] = (await lastLine(["--child", "2000", maximum])).split(" ").map(Number);
    console.log(
      `memory maximum ${maximum === "none" ? "none" : `${maximum} pages`}: per live memory ` +
        `${(vm / count / 1024 ** 3).toFixed(3)} GiB of address space, ` +
        `${(maps / count).toFixed(2)} mappings`,
    );
  }

  const maximumIndex = Deno.args.indexOf("--maximum");
  const maximum = maximumIndex < 0 ? "none" : Deno.args[maximumIndex + 1];
  const child = spawnSelf(import.meta.url, ["--child", String(max), maximum], "piped");
  const trend: string[] = [];
  let [reached, maps] = [0, 0];
  for (let line = await child.line(); line !== undefined; line = await child.line()) {
    const fields = line.split(" ").map(Number);
    [reached, maps] = [fields[0], fields[3]];
    trend.push(`${reached / 1000}k ${(fields[4] * 1000 / STEP).toFixed(0)}`);
  }
  const status = await child.status;
  const fatal = (await child.stderr).match(/Fatal \w+ out of memory: [\w:]+/)?.[0];
  console.log(`maximum ${maximum}: instantiate µs per memory by live count: ${trend.join(", ")}`);
  console.log(
    `child reached ${reached} live memories (${maps} mappings; vm.max_map_count ${limit}); ` +
      (status.success
        ? "exited normally"
        : `died (code ${status.code}, signal ${status.signal}): ${fatal}`),
  );
}

/** This process's memory mappings: the lines of `/proc/self/maps`, read into one small buffer. */
function mappings(): number {
  using file = Deno.openSync("/proc/self/maps");
  const buffer = mappingsBuffer;
  let lines = 0;
  for (let n = file.readSync(buffer); n !== null; n = file.readSync(buffer)) {
    for (let i = 0; i < n; i++) if (buffer[i] === 10) lines++;
  }
  return lines;
}

/** Run a child and return its last line of output. */
async function lastLine(args: string[]): Promise<string> {
  const child = spawnSelf(import.meta.url, args);
  let last = "";
  for (let line = await child.line(); line !== undefined; line = await child.line()) last = line;
  await child.kill();
  return last;
}
