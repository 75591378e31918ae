/**
 * What writing small files costs in Deno: creating a file with 300 bytes, appending 300 bytes,
 * and removing a file, each with the async API (`Deno.writeFile`, `Deno.remove`) and the sync
 * one, one at a time; per operation, the time it takes and the CPU of the whole process (the
 * async ones run on a thread pool).
 *
 * ```sh
 * deno run -A scripts/facts/fs_write_cost.ts [--files 2000]
 * ```
 *
 * @module
 */

import { cpuMs } from "./_facts.ts";

const filesIndex = Deno.args.indexOf("--files");
const FILES = filesIndex < 0 ? 2000 : Number(Deno.args[filesIndex + 1]);
const data = new TextEncoder().encode("x".repeat(300));
const dir = await Deno.makeTempDir({ prefix: "fs-write-cost-" });

/**
 * Each operation, run on every file in turn (the files exist after the first). Every round uses
 * new names: on overlayfs, creating a name that was just removed is several times slower.
 */
const OPS: [string, (path: string) => unknown][] = [
  ["Deno.writeFile, createNew", (path) => Deno.writeFile(path, data, { createNew: true })],
  ["Deno.writeFile, append", (path) => Deno.writeFile(path, data, { append: true })],
  ["Deno.remove", (path) => Deno.remove(path)],
  ["Deno.writeFileSync, createNew", (path) => Deno.writeFileSync(path, data, { createNew: true })],
  ["Deno.writeFileSync, append", (path) => Deno.writeFileSync(path, data, { append: true })],
  ["Deno.removeSync", (path) => Deno.removeSync(path)],
];

/** Run `op` on every file, one after the other; µs per op, elapsed and of process CPU. */
async function measure(op: (path: string) => unknown, round: string): Promise<[number, number]> {
  const cpu = cpuMs(Deno.pid);
  const start = performance.now();
  for (let i = 0; i < FILES; i++) await op(`${dir}/${round}-${i}`);
  return [(performance.now() - start) * 1000 / FILES, (cpuMs(Deno.pid) - cpu) * 1000 / FILES];
}

try {
  for (const [what, op] of OPS) await measure(op, `warm-${what.includes("Sync")}`);
  console.log(`${FILES} files of 300 bytes in ${dir}, one operation at a time:`);
  for (const [what, op] of OPS) {
    const [elapsed, cpu] = await measure(op, `${what.includes("Sync")}`);
    console.log(`  ${what}: ${elapsed.toFixed(1)} µs each, process CPU ${cpu.toFixed(1)} µs each`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
