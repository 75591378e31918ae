/**
 * Workers in Deno: what one costs, and that `worker.terminate()` does not stop a worker that is
 * spinning (JS loop, wasm loop, `await 0` loop, `node:worker_threads`): the thread goes on
 * burning a core and the process cannot exit. Each case runs in a child process, which this
 * script kills.
 *
 * ```sh
 * deno run -A scripts/facts/worker_terminate.ts
 * ```
 *
 * @module
 */

import { Worker as NodeWorker } from "node:worker_threads";
import { cpuMs, mib, procBytes, spawnSelf, within } from "./_facts.ts";
import { compileWat } from "./_wat.ts";

const WORKERS = 10;
const PINGS = 10_000;
const SPINS: Record<string, string> = {
  "JS loop": "for (;;) {}",
  "wasm loop": "new WebAssembly.Instance(event.data).exports.spin();",
  "await 0 loop": "for (;;) await 0;",
};

/** A module worker running `onmessage = async (event) => { postMessage("spinning"); <body> }`. */
function spinner(body: string): Worker {
  const code = `onmessage = async (event) => { postMessage("spinning"); ${body} };`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  return new Worker(url, { type: "module" });
}

if (Deno.args[0] === "--cost") {
  const echo = "onmessage = (event) => postMessage(event.data);";
  const url = URL.createObjectURL(new Blob([echo], { type: "text/javascript" }));
  const before = procBytes(Deno.pid, "VmRSS");
  const workers: Worker[] = [];
  const start = performance.now();
  for (let i = 0; i < WORKERS; i++) {
    const worker = new Worker(url, { type: "module" });
    worker.postMessage(0);
    await new Promise((resolve) => worker.onmessage = resolve);
    workers.push(worker);
  }
  const startMs = (performance.now() - start) / WORKERS;
  const rss = (procBytes(Deno.pid, "VmRSS") - before) / WORKERS;
  const pingStart = performance.now();
  for (let i = 0; i < PINGS; i++) {
    workers[0].postMessage(i);
    await new Promise((resolve) => workers[0].onmessage = resolve);
  }
  const pingUs = (performance.now() - pingStart) * 1000 / PINGS;
  for (const worker of workers) worker.terminate();
  console.log(
    `a Worker: ${startMs.toFixed(1)} ms to start and answer, RSS +${mib(rss)} each ` +
      `(${WORKERS} kept), postMessage round trip ${pingUs.toFixed(1)} µs`,
  );
} else if (Deno.args[0] === "--spin") {
  const kind = Deno.args[1];
  let terminate: () => unknown;
  if (kind === "node:worker_threads JS loop") {
    const worker = new NodeWorker(
      `require("node:worker_threads").parentPort.postMessage(0); for (;;) {}`,
      { eval: true },
    );
    await new Promise((resolve) => worker.once("message", resolve));
    terminate = () => worker.terminate();
  } else {
    const worker = spinner(SPINS[kind]);
    worker.postMessage(compileWat(`(module (func (export "spin") (loop $l (br $l))))`));
    await new Promise((resolve) => worker.onmessage = resolve);
    terminate = () => worker.terminate();
  }
  await new Promise((resolve) => setTimeout(resolve, 100)); // spinning for sure
  const result = await within(1000, "terminate()", Promise.resolve(terminate())).then(
    () => "returned",
    (error) => String(error),
  );
  const cpuBefore = cpuMs(Deno.pid);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(`${cpuMs(Deno.pid) - cpuBefore} ${result}`);
  // The main module ends here: a process whose worker stopped exits now.
} else {
  const cost = spawnSelf(import.meta.url, ["--cost"]);
  console.log(await cost.line());
  await cost.kill();
  for (const kind of [...Object.keys(SPINS), "node:worker_threads JS loop"]) {
    const child = spawnSelf(import.meta.url, ["--spin", kind]);
    const [cpu, ...result] = (await child.line() ?? "? no answer").split(" ");
    const exited = await within(2000, "exit", child.status).then(() => true, () => false);
    await child.kill();
    console.log(
      `${kind}: terminate() ${result.join(" ")}; the process then used ${cpu} ms of CPU in 1 s; ` +
        (exited ? "it exited by itself" : "it did not exit within 2 s (killed)"),
    );
  }
}
