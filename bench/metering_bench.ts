/**
 * What metering costs, in-process and without sockets (`deno bench`):
 *
 * - group `compute`: the CPU-bound guest (`examples/wasm/compute.wasm`, a sieve of Eratosthenes
 *   in Rust) answering one `"2000000"`: unmetered (baseline), metered without time slicing,
 *   metered with time slicing (every 5 ms of fuel the guest is suspended behind a 0 ms timer);
 * - group `event`: 20,000 `increment`s to the WASM counter through a `LocalEngine`, queued at once
 *   and run one after the other, unmetered vs metered (one entry call per event, no JSPI) vs
 *   metered and time sliced (the entry is called through `WebAssembly.promising`, and the room
 *   awaits each event's Promise before the next) — divide by 20,000 for the per-message price of
 *   slicing on the echo hot path;
 * - group `start`: a new room's guest instance (instantiation and start-up), unmetered vs
 *   metered.
 *
 * ```sh
 * deno bench -A bench/metering_bench.ts
 * ```
 *
 * @module
 */

import { LocalEngine } from "../room/local_engine.ts";
import type { RoomOutput } from "../room/room_engine.ts";
import type { Logger } from "../util/logger.ts";
import { GuestInstance } from "../wasm/guest_instance.ts";
import { loadWasmService, type WasmService } from "../wasm/host.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error: (line) => console.error(line) };
const load = (name: string, metering: boolean) =>
  loadWasmService(new URL(`../examples/wasm/${name}.wasm`, import.meta.url), {
    logger: quiet,
    metering,
  });

const computePlain = await load("compute", false);
const computeMetered = await load("compute", true);

/** A guest of `service` whose sends are counted. */
function guest(service: WasmService, timeSlice: number): GuestInstance {
  const instance = new GuestInstance(
    service.guestConfig({ cpuLimit: 60, timeSlice }),
    "bench",
    { sendText: () => void sent++, sendBinary() {}, setTimer() {} },
  );
  return instance;
}
let sent = 0;

const SIEVE = "2000000";
const plainGuest = guest(computePlain, 0);
const syncGuest = guest(computeMetered, 0);
const slicedGuest = guest(computeMetered, 5);
await slicedGuest.ready;

Deno.bench({
  name: "compute: unmetered",
  group: "compute",
  baseline: true,
  fn: () => void plainGuest.message(1, SIEVE),
});
Deno.bench({
  name: "compute: metered",
  group: "compute",
  fn: () => void syncGuest.message(1, SIEVE),
});
Deno.bench({
  name: "compute: metered, time sliced (5 ms)",
  group: "compute",
  async fn() {
    await slicedGuest.message(1, SIEVE);
  },
});

const counterPlain = await load("counter", false);
const counterMetered = await load("counter", true);
const output: RoomOutput = {
  send: () => void sent++,
  closeClient() {},
  setTimer() {},
  crash(error) {
    throw error;
  },
};

/**
 * Queue `count` messages and wait until the engine has run them all. (Bench functions that
 * await must be `async`: `deno bench` does not await a plain function's Promise.)
 */
async function events(room: LocalEngine, count: number): Promise<void> {
  const target = sent + count;
  for (let i = 0; i < count; i++) room.message(1, "increment");
  while (sent < target) await Promise.resolve();
}

/** A room engine running the counter, started. */
async function engine(service: WasmService, timeSlice: number): Promise<LocalEngine> {
  const room = new LocalEngine("bench", service.roomFactory({ timeSlice }), output, quiet);
  room.connect(1);
  await events(room, 1);
  return room;
}
const eventPlain = await engine(counterPlain, 0);
const eventSync = await engine(counterMetered, 0);
const eventSliced = await engine(counterMetered, 5);

Deno.bench({
  name: "event ×20,000: unmetered",
  group: "event",
  n: 20,
  baseline: true,
  fn: async () => await events(eventPlain, 20_000),
});
Deno.bench({
  name: "event ×20,000: metered",
  group: "event",
  n: 20,
  fn: async () => await events(eventSync, 20_000),
});
Deno.bench({
  name: "event ×20,000: metered, time sliced (JSPI)",
  group: "event",
  n: 20,
  fn: async () => await events(eventSliced, 20_000),
});

Deno.bench({
  name: "start: unmetered counter",
  group: "start",
  baseline: true,
  fn: () => void guest(counterPlain, 0)[Symbol.dispose](),
});
Deno.bench({
  name: "start: metered counter",
  group: "start",
  fn: () => void guest(counterMetered, 0)[Symbol.dispose](),
});
Deno.bench({
  name: "start: metered counter, time sliced",
  group: "start",
  async fn() {
    const instance = guest(counterMetered, 5);
    await instance.ready;
    instance[Symbol.dispose]();
  },
});
