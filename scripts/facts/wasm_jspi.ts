/**
 * JS Promise Integration (`WebAssembly.Suspending` / `WebAssembly.promising`) in Deno: a wasm loop
 * that calls a suspending import every 10⁶ iterations lets a 1 ms `setInterval` tick throughout;
 * what suspending costs that loop, and what a call through `promising()` costs.
 *
 * ```sh
 * deno run -A scripts/facts/wasm_jspi.ts
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { compileWat } from "./_wat.ts";

const ITERATIONS = 300_000_000;
const CALLS = 100_000;

// deno-lint-ignore no-explicit-any
const JSPI = WebAssembly as any; // Suspending and promising are not in Deno's types yet
console.log(
  `WebAssembly.Suspending: ${typeof JSPI.Suspending}, WebAssembly.promising: ` +
    `${typeof JSPI.promising} (V8 ${Deno.version.v8})`,
);

const module = compileWat(`(module
  (import "js" "pause" (func $pause))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $sum i32)
    (loop $again
      (if (i32.eqz (i32.rem_u (local.get $i) (i32.const 1000000))) (then (call $pause)))
      (local.set $sum (i32.add (local.get $sum) (local.get $i)))
      (br_if $again (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
        (local.get $n))))
    (local.get $sum))
  (func (export "id") (param i32) (result i32) (local.get 0)))`);
type Exports = { run(n: number): number; id(x: number): number };

/** Run the loop with `pause` as its import, counting 1 ms ticks meanwhile. */
async function timeLoop(pause: WebAssembly.ImportValue, suspending: boolean): Promise<string> {
  const exports = new WebAssembly.Instance(module, { js: { pause } }).exports as Exports;
  let ticks = 0;
  const interval = setInterval(() => ticks++, 1);
  const start = performance.now();
  try {
    await (suspending ? JSPI.promising(exports.run) : exports.run)(ITERATIONS);
    return `${(performance.now() - start).toFixed(0)} ms, ${ticks} ticks of a 1 ms interval`;
  } finally {
    clearInterval(interval);
  }
}

let suspensions = 0;
const suspend = new JSPI.Suspending(() => {
  suspensions++;
  return new Promise((resolve) => setImmediate(resolve));
});
await timeLoop(() => {}, false); // warm up: let V8 optimise the loop
const plain = await timeLoop(() => {}, false);
const suspended = await timeLoop(suspend, true);
console.log(
  `${ITERATIONS / 1e6}M-iteration loop: plain import ${plain}; suspending import ` +
    `(${suspensions} suspensions) ${suspended}`,
);

const direct = new WebAssembly.Instance(module, { js: { pause: suspend } }).exports as Exports;
let refused = "nothing";
try {
  direct.run(1);
} catch (error) {
  refused = `${(error as Error).name}: ${(error as Error).message}`;
}
console.log(`suspending without promising(): throws ${refused}`);

const { id } = direct;
const promised = JSPI.promising(id) as (x: number) => Promise<number>;
let start = performance.now();
for (let i = 0; i < CALLS; i++) await id(i);
const plainUs = (performance.now() - start) * 1000 / CALLS;
start = performance.now();
for (let i = 0; i < CALLS; i++) await promised(i);
const promisedUs = (performance.now() - start) * 1000 / CALLS;
console.log(
  `await a call: plain ${plainUs.toFixed(3)} µs, through promising() ${promisedUs.toFixed(3)} µs`,
);
