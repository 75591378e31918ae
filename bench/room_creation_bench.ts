/**
 * What a WASM room costs to open and close, in-process and without sockets (`deno bench`): the
 * Rust counter (`examples/wasm/counter.wasm`), metered and time sliced as `jamsocket serve` runs
 * it, started, sent one `increment`, and disposed — on a new `WebAssembly.Instance` each time,
 * and on an instance from the service's pool (`wasm/instance_pool.ts`), made fresh again at
 * each release. The garbage collection that new instances bring grows with the heap of a real
 * server, so the churn benchmark (`deno task bench --scenarios churn`) gains more than this.
 *
 * ```sh
 * deno bench -A bench/room_creation_bench.ts
 * ```
 *
 * @module
 */

import { GuestInstance } from "../wasm/guest_instance.ts";
import { loadWasmService } from "../wasm/host.ts";

const service = await loadWasmService(
  new URL("../examples/wasm/counter.wasm", import.meta.url),
);
const pooled = service.guestConfig();
const unpooled = { ...pooled, pool: undefined };
const output = {
  sendText: () => {},
  sendBinary: () => {},
  setTimer: () => {},
};

async function openAndClose(config: typeof pooled): Promise<void> {
  const guest = new GuestInstance(config, "room", output);
  await guest.ready;
  await guest.message(1, "increment");
  guest[Symbol.dispose]();
}

Deno.bench("room: new instance each time", { group: "room", baseline: true }, async () => {
  await openAndClose(unpooled);
});

Deno.bench("room: instance from the pool", { group: "room" }, async () => {
  await openAndClose(pooled);
});
