/**
 * Server memory per idle connected room, hibernated against awake, and what waking costs. For
 * each service, a server (`bench/servers/gc_server.ts`, the CLI's flags, `--shutdown-policy
 * never`, `--rooms-per-host` above the rooms opened, so that no awake room hibernates) gets
 * `batches` batches of `rooms` rooms with one connected client each, which sends one
 * `increment`; then the clients stay connected and silent. With `--hibernate-after 0.5` the
 * rooms hibernate (the run waits until `jamsocket_rooms_hibernated` counts them all); without,
 * they stay awake (the run waits as long). Memory is the server's RSS (`/proc/<pid>/status`)
 * after V8's memory-reducing full GC (`GET /gc`, which compacts as V8 does once the process is
 * idle), before and after each batch, ÷ rooms. The mean of the batches after the first two is
 * the steady state: what one more idle room costs once the server has run a while. (The first
 * two batches of hibernated rooms show the high-water mark of their start-up: memory that V8 and
 * the allocator keep after the instances are freed, and reuse for the next rooms.) Then every
 * client sends one more `increment` at once: the time to its answer (each hibernated room is
 * restored first), and the answer must be `new value: 2`. Runs are interleaved (awake, hibernated,
 * awake, …). Linux only.
 *
 * Each server runs with V8's young generation at a fixed size (`--min-semi-space-size=16
 * --max-semi-space-size=16`, V8's usual upper bound). Otherwise V8 grows it while the rooms are
 * opened (it follows the allocation rate, up to that bound, whatever the number of rooms), and
 * that growth, about 10 KiB per room at 1,000 rooms, shows up in every "per room" figure as if
 * the rooms held it. `--young-generation-grows` measures that way instead.
 *
 * ```sh
 * deno run -A bench/hibernation_memory.ts [rooms=1000] [reps=2] [batches=10] [service …] [--young-generation-grows] [--awake-only]
 * ```
 *
 * `--awake-only` runs no hibernated servers (the table's hibernated column then repeats the
 * awake runs): for a build from before hibernation, to compare today's hibernated rooms with the
 * awake rooms of then. For example, the build issue 15 was filed against:
 *
 * ```sh
 * git worktree add /tmp/then 06dc40b
 * cp bench/hibernation_memory.ts /tmp/then/bench/ && cp bench/servers/gc_server.ts /tmp/then/bench/servers/
 * cd /tmp/then && deno run -A bench/hibernation_memory.ts 1000 2 10 examples/wasm/counter.wasm --awake-only
 * ```
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname;
const youngGenerationGrows = Deno.args.includes("--young-generation-grows");
const awakeOnly = Deno.args.includes("--awake-only");
const args = Deno.args.filter((arg) => !arg.startsWith("--"));
const rooms = Number(args[0] ?? 1000);
const reps = Number(args[1] ?? 2);
const batches = Number(args[2] ?? 10);
const services = args.length > 3 ? args.slice(3) : [
  "examples/wasm/counter.wasm",
  "examples/wasm/counter_c.wasm",
  "examples/wasm/counter_as.wasm",
  "examples/persistent_counter.ts",
  // Never hibernates (no hooks): a connected room with almost no state, the floor.
  "examples/counter.ts",
];
/** Services whose rooms cannot hibernate: the "hibernated" run only waits as long. */
const CANNOT_HIBERNATE = new Set(["examples/counter.ts"]);

interface Run {
  /** KiB per room of each batch. */
  batches: number[];
  rssMiB: number;
  wakeP50: number;
  wakeMax: number;
}

async function run(service: string, hibernate: boolean): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--v8-flags=--expose-gc${
        youngGenerationGrows ? "" : ",--min-semi-space-size=16,--max-semi-space-size=16"
      }`,
      `${ROOT}bench/servers/gc_server.ts`,
      service,
      "--port",
      "0",
      "--hostname",
      "127.0.0.1",
      "--shutdown-policy",
      "never",
      "--rooms-per-host",
      String(batches * rooms + 1),
      // Awake, every room holds its guest's whole memory (the Rust counter's 17 pages: 1 MiB, of
      // which RSS shows what it touched); the default budget of WASM memory stops at 12 GiB.
      "--wasm-memory-budget",
      String(64 * 1024),
      ...(hibernate ? ["--hibernate-after", "0.5"] : []),
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const clients: WebSocket[] = [];
  try {
    const port = await listeningPort(child.stdout);
    const http = `http://127.0.0.1:${port}`;
    const hibernates = hibernate && !CANNOT_HIBERNATE.has(service);
    const perBatch: number[] = [];
    let rss = await settledRss(http, child.pid);
    for (let batch = 0; batch < batches; batch++) {
      await openRooms(port, batch * rooms, clients);
      await waitHibernated(http, hibernates, (batch + 1) * rooms);
      const after = await settledRss(http, child.pid);
      perBatch.push((after - rss) / rooms);
      rss = after;
    }
    const started = performance.now();
    const times = await Promise.all(clients.map(async (socket) => {
      socket.send("increment");
      await reply(socket, "new value: 2");
      return performance.now() - started;
    }));
    times.sort((a, b) => a - b);
    return {
      batches: perBatch,
      rssMiB: rss / 1024,
      wakeP50: times[Math.floor(times.length / 2)],
      wakeMax: times[times.length - 1],
    };
  } finally {
    for (const socket of clients) socket.close();
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
}

/** Open `rooms` rooms from number `first` on, one client each that sends one increment. */
async function openRooms(port: number, first: number, clients: WebSocket[]): Promise<void> {
  for (let at = first; at < first + rooms; at += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, first + rooms - at) }, async (_, i) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/ws/room${at + i}`);
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = () => reject(new Error("WebSocket error"));
        });
        socket.send("increment");
        await reply(socket, "new value: 1");
        return socket;
      }),
    );
    clients.push(...batch);
  }
}

/**
 * Hibernated: wait until `count` rooms are (at most 60 s). Awake, or a service that cannot
 * hibernate: wait 1 s, as long.
 */
async function waitHibernated(http: string, hibernate: boolean, count: number): Promise<void> {
  if (!hibernate) return await new Promise((resolve) => setTimeout(resolve, 1000));
  const deadline = Date.now() + 60_000;
  while (await gauge(http, "jamsocket_rooms_hibernated") !== count) {
    if (Date.now() > deadline) throw new Error(`${count} rooms did not hibernate within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Wait for a text frame starting with "new value" and check it. */
function reply(socket: WebSocket, expected: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${expected}" within 30 s`)), 30_000);
    socket.onmessage = (event) => {
      if (typeof event.data !== "string" || !event.data.startsWith("new value")) return;
      clearTimeout(timer);
      if (event.data === expected) resolve();
      else reject(new Error(`expected "${expected}", got "${event.data}"`));
    };
  });
}

async function listeningPort(stdout: ReadableStream<Uint8Array>): Promise<number> {
  let text = "";
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server ended before listening: ${text}`);
    text += value;
    const found = /listening on http:\/\/[^:]+:(\d+)/.exec(text);
    if (found) {
      reader.releaseLock();
      return Number(found[1]);
    }
  }
}

async function gauge(http: string, name: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
}

/** RSS in KiB after a full GC, twice, a moment apart (the lower). */
async function settledRss(http: string, pid: number): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 2; i++) {
    await (await fetch(`${http}/gc`)).text();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    least = Math.min(least, Number(/VmRSS:\s+(\d+)/.exec(status)![1]));
  }
  return least;
}

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(
  `${batches} × ${rooms} idle connected rooms per server, ${reps} interleaved runs each; medians; ${
    youngGenerationGrows
      ? "V8's young generation grows as usual"
      : "young generation fixed at 16 MiB semi-spaces"
  }`,
);
console.log("");
console.log(
  "| service | awake KiB/room (by batch → steady) | hibernated KiB/room (by batch → steady) | hibernated ÷ awake (steady: mean of batches 3–) | awake: next answer p50 / max ms | hibernated (wake): p50 / max ms |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const service of services) {
  const results: Record<"awake" | "hibernated", Run[]> = { awake: [], hibernated: [] };
  for (let rep = 0; rep < reps; rep++) {
    results.awake.push(await run(service, false));
    results.hibernated.push(await run(service, !awakeOnly));
  }
  const kib = (runs: Run[], batch: number) => median(runs.map((r) => r.batches[batch]));
  const steady = (runs: Run[]) => {
    const from = Math.min(2, batches - 1);
    const figures = Array.from({ length: batches - from }, (_, i) => kib(runs, from + i));
    return figures.reduce((sum, figure) => sum + figure, 0) / figures.length;
  };
  const all = (runs: Run[]) =>
    Array.from({ length: batches }, (_, batch) => kib(runs, batch).toFixed(1)).join(", ");
  const ms = (runs: Run[]) =>
    `${median(runs.map((r) => r.wakeP50)).toFixed(0)} / ${
      median(runs.map((r) => r.wakeMax)).toFixed(0)
    }`;
  const ratio = steady(results.hibernated) / steady(results.awake);
  console.log(
    `| \`${service}\` | ${all(results.awake)} → ${steady(results.awake).toFixed(1)} | ${
      all(results.hibernated)
    } → ${steady(results.hibernated).toFixed(1)} | ${(100 * ratio).toFixed(0)}% | ${
      ms(results.awake)
    } | ${ms(results.hibernated)} |`,
  );
}
