/**
 * What a WebAssembly instance costs in Deno: instantiating a compiled module, the memory a fresh
 * instance adds (and per 4 KiB page it touches), a call from JS into wasm and back out, and
 * copying a 100-byte string into wasm memory.
 *
 * ```sh
 * deno run -A scripts/facts/wasm_instantiate.ts [--instances 2000]
 * ```
 *
 * @module
 */

import { kib } from "./_facts.ts";
import { compileWat } from "./_wat.ts";

const instancesIndex = Deno.args.indexOf("--instances");
const INSTANCES = instancesIndex < 0 ? 2000 : Number(Deno.args[instancesIndex + 1]);
const CALLS = 10_000_000;

const module = compileWat(`(module
  (import "js" "noop" (func $noop))
  (memory (export "memory") 4)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "callOut") (param $n i32)
    (loop $again (call $noop)
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`);
interface Exports {
  memory: WebAssembly.Memory;
  add(a: number, b: number): number;
  callOut(n: number): void;
}
const imports = { js: { noop: () => {} } };
const instantiate = () => new WebAssembly.Instance(module, imports).exports as unknown as Exports;

for (let i = 0; i < 100; i++) instantiate(); // warm up
const kept: Exports[] = [];
const rssBefore = Deno.memoryUsage().rss;
let start = performance.now();
for (let i = 0; i < INSTANCES; i++) kept.push(instantiate());
const instantiateUs = (performance.now() - start) * 1000 / INSTANCES;
const rssFresh = Deno.memoryUsage().rss;
for (const instance of kept) {
  const bytes = new Uint8Array(instance.memory.buffer);
  for (let page = 0; page < 4; page++) bytes[page * 4096] = 1;
}
const rssTouched = Deno.memoryUsage().rss;
console.log(
  `instantiate a compiled module: ${instantiateUs.toFixed(1)} µs each (${INSTANCES} kept); ` +
    `RSS +${kib((rssFresh - rssBefore) / INSTANCES)} per fresh instance, ` +
    `+${kib((rssTouched - rssFresh) / INSTANCES / 4)} per 4 KiB page it touches`,
);

const { add, callOut, memory } = kept[0];
let sum = 0;
start = performance.now();
for (let i = 0; i < CALLS; i++) sum = add(sum, 1);
const inNs = (performance.now() - start) * 1e6 / CALLS;
start = performance.now();
callOut(CALLS);
const outNs = (performance.now() - start) * 1e6 / CALLS;
console.log(
  `JS → wasm call ${inNs.toFixed(1)} ns, wasm → JS import ${outNs.toFixed(1)} ns (${CALLS} each)`,
);

const text = "x".repeat(100);
const encoder = new TextEncoder();
const view = new Uint8Array(memory.buffer);
const target = view.subarray(1024);
const COPIES = 1_000_000;
start = performance.now();
for (let i = 0; i < COPIES; i++) encoder.encodeInto(text, target);
const intoNs = (performance.now() - start) * 1e6 / COPIES;
start = performance.now();
for (let i = 0; i < COPIES; i++) view.set(encoder.encode(text), 1024);
const setNs = (performance.now() - start) * 1e6 / COPIES;
console.log(
  `a 100-byte string into wasm memory: encodeInto ${intoNs.toFixed(0)} ns, ` +
    `encode + set ${setNs.toFixed(0)} ns (${COPIES} each)`,
);
