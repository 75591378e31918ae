/**
 * What many live WebAssembly memories do to V8's garbage collector: each memory's committed size
 * (its declared minimum, touched or not) counts toward V8's global allocation limit, so instances
 * with larger memories bring more full (mark-compact) collections, each of which marks the whole
 * JS heap. Kept instances of a module with 1 page and with 17 pages (a Rust `wasm32-wasi` guest's
 * minimum: 1 MiB of stack and its data) are made in child processes under `--trace-gc`, with
 * V8's defaults and with the growing factor room hosts run with (`wasm/v8_flags.ts`).
 *
 * ```sh
 * deno run -A scripts/facts/wasm_gc_pressure.ts [--instances 3000]
 * ```
 *
 * @module
 */

import { WASM_ROOMS_V8_FLAGS as FACTOR_FLAG } from "../../wasm/v8_flags.ts";
import { DenoChild } from "./_facts.ts";
import { compileWat } from "./_wat.ts";

if (Deno.args[0] === "--child") {
  const [instances, pages] = [Number(Deno.args[1]), Number(Deno.args[2])];
  // Forty functions and a table, so that each instance holds some JS heap, as a guest's does.
  const functions = Array.from(
    { length: 40 },
    (_, i) => `(func $f${i} (result i32) i32.const ${i})`,
  );
  const module = compileWat(`(module
    (memory (export "memory") ${pages})
    ${functions.join("\n")}
    (table 40 funcref) (elem (i32.const 0) ${functions.map((_, i) => `$f${i}`).join(" ")})
    (func (export "touch") (i32.store (i32.const 0) (i32.const 1))))`);
  const kept: WebAssembly.Instance[] = [];
  const start = performance.now();
  for (let i = 0; i < instances; i++) {
    const instance = new WebAssembly.Instance(module, {});
    (instance.exports.touch as () => void)();
    kept.push(instance);
  }
  const us = (performance.now() - start) * 1000 / instances;
  console.log(`RESULT ${us.toFixed(1)} ${kept.length}`);
} else {
  const index = Deno.args.indexOf("--instances");
  const instances = index < 0 ? 3000 : Number(Deno.args[index + 1]);
  console.log(`${instances} kept instances, each touching one page, in a fresh process:`);
  for (const pages of [1, 17]) {
    for (const flags of ["--trace-gc", `--trace-gc,${FACTOR_FLAG}`]) {
      const child = new DenoChild([
        "run",
        "-A",
        `--v8-flags=${flags}`,
        new URL(import.meta.url).pathname,
        "--child",
        String(instances),
        String(pages),
      ]);
      let fullGcs = 0;
      let result = "";
      for (let line = await child.line(); line !== undefined; line = await child.line()) {
        if (line.includes("Mark-Compact")) fullGcs++;
        if (line.startsWith("RESULT ")) result = line;
      }
      await child.kill();
      const [, us] = result.split(" ");
      const setting = flags.includes(FACTOR_FLAG) ? FACTOR_FLAG : "V8's defaults";
      console.log(
        `  ${
          String(pages).padStart(2)
        } page(s): ${us} µs per instance, ${fullGcs} full GCs (${setting})`,
      );
    }
  }
}
