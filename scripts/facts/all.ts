/**
 * `deno task facts`: run every fact script in this folder (or those named), one at a time, each
 * stopped after 2 minutes, and print what each measured under a header naming the date, Deno
 * and the machine. About a minute and a half in all on 2 cores.
 *
 * ```sh
 * deno task facts                          # all of them
 * deno task facts ws_heartbeat wasm_jspi   # some
 * ```
 *
 * @module
 */

import { machineInfo } from "../../bench/proc.ts";

const here = new URL(".", import.meta.url);
const scripts = [...Deno.readDirSync(here)]
  .filter((entry) => entry.name.endsWith(".ts") && !entry.name.startsWith("_"))
  .map((entry) => entry.name.slice(0, -".ts".length))
  .filter((name) => name !== "all")
  .filter((name) => Deno.args.length === 0 || Deno.args.includes(name))
  .sort();
const unknown = Deno.args.filter((name) => !scripts.includes(name));
if (unknown.length > 0) {
  console.error(`error: no fact script named ${unknown.map((name) => `"${name}"`).join(", ")}`);
  Deno.exit(2);
}

const machine = await machineInfo();
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${machine.deno}, ${machine.cpu}, ` +
    `${machine.cores} cores, ${machine.ramGiB} GiB, Linux ${machine.kernel}, ` +
    `load ${machine.loadAverage.toFixed(2)}`,
);
let failed = 0;
for (const name of scripts) {
  const start = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`${name}.ts`, here).pathname],
    stdin: "null",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  console.log(`\n${name} (${seconds} s)`);
  console.log(new TextDecoder().decode(stdout).trimEnd());
  if (code !== 0) {
    failed++;
    console.log(`FAILED (exit ${code}): ${new TextDecoder().decode(stderr).trim().slice(-2000)}`);
  }
}
if (failed > 0) Deno.exit(1);
