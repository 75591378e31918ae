/**
 * What timers and clocks cost in Deno: what `setTimeout` returns, a `setTimeout` with its
 * `clearTimeout` (the pattern of a timeout that is armed and then not needed), `clearTimeout` of
 * `undefined`, `Date.now()` and `performance.now()`; nanoseconds per call, three rounds.
 *
 * ```sh
 * deno run scripts/facts/timer_cost.ts [--calls 200000]
 * ```
 *
 * @module
 */

const callsIndex = Deno.args.indexOf("--calls");
const CALLS = callsIndex < 0 ? 200_000 : Number(Deno.args[callsIndex + 1]);

const handle = setTimeout(() => {}, 1000);
console.log(
  `setTimeout returns ${
    typeof handle === "object" ? `a ${handle.constructor.name} object` : `a ${typeof handle}`
  }`,
);
clearTimeout(handle);

let sink = 0;
const CASES: [string, () => void][] = [
  ["setTimeout + clearTimeout", () => clearTimeout(setTimeout(() => {}, 10_000))],
  ["clearTimeout(undefined)", () => clearTimeout(undefined)],
  ["Date.now()", () => sink += Date.now()],
  ["performance.now()", () => sink += performance.now()],
];

for (let round = 1; round <= 3; round++) {
  const figures = CASES.map(([what, call]) => {
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) call();
    return `${what} ${((performance.now() - start) * 1e6 / CALLS).toFixed(0)} ns`;
  });
  console.log(`round ${round}: ${figures.join(", ")}`);
}
if (sink === 0) console.log(""); // keep the clock reads
