/**
 * Snapshot and restore of the example guests, in-process and without sockets (`deno bench`):
 * for each guest, a room with one client that has sent 100 `increment`s (the clock: ticked 100
 * times), then
 *
 * - group `snapshot`: capture the guest's state as bytes (pages that differ from the initial
 *   image, XOR-ed and deflated; the globals), and encode the room's snapshot file;
 * - group `restore`: check and decode that file, and restore a fresh instance from it;
 * - the sizes (state, and the whole snapshot file) are printed before the runs.
 *
 * ```sh
 * deno bench -A bench/snapshot_bench.ts
 * ```
 *
 * @module
 */

import type { RoomSnapshot, ServiceSnapshots } from "../room/room_snapshot.ts";
import { typeScriptSnapshots } from "../runtime/service_snapshots.ts";
import { PersistentCounter } from "../examples/persistent_counter.ts";
import { decodeSnapshot, encodeSnapshot } from "../snapshot/snapshot_format.ts";
import type { JamsocketContext, SimpleJamsocketService } from "../service.ts";
import { toServiceFactory } from "../service.ts";
import type { Logger } from "../util/logger.ts";
import { loadWasmService } from "../wasm/host.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error: (line) => console.error(line) };

/** A context that drops what the guest sends. */
const ctx: JamsocketContext = {
  roomId: "bench",
  clients: [1],
  sendMessage() {},
  sendBinary() {},
  clientData: () => undefined,
  setClientData() {},
  closeClient() {},
  setTimer() {},
};

interface Case {
  name: string;
  snapshots: ServiceSnapshots;
  service: SimpleJamsocketService;
}

async function wasmCase(file: string, label: string, event: "message" | "timer"): Promise<Case> {
  const loaded = await loadWasmService(new URL(`../examples/wasm/${file}`, import.meta.url), {
    logger: quiet,
    env: { CLOCK_TICK_MS: "1000" },
  });
  const run = { timeSlice: 0 };
  const service = await loaded.roomFactory(run)("bench", ctx);
  for (let i = 0; i < 100; i++) {
    if (event === "message") await service.message!(1, "increment", ctx);
    else await service.timer!(ctx);
  }
  return { name: label, snapshots: loaded.roomSnapshots(run)!, service };
}

const cases: Case[] = [
  await wasmCase("counter.wasm", "Rust counter", "message"),
  await wasmCase("clock.wasm", "Rust clock", "timer"),
  await wasmCase("counter_c.wasm", "C counter", "message"),
  await wasmCase("counter_as.wasm", "AssemblyScript counter", "message"),
  await (async () => {
    const snapshots = typeScriptSnapshots(PersistentCounter) as ServiceSnapshots;
    const service = await toServiceFactory(PersistentCounter)("bench", ctx);
    for (let i = 0; i < 100; i++) service.message!(1, "increment", ctx);
    return { name: "TypeScript counter (JSON)", snapshots, service };
  })(),
];

function roomSnapshot(c: Case, state: Uint8Array): RoomSnapshot {
  return {
    roomId: "bench",
    nextClientId: 2,
    timerMs: undefined,
    takenAt: Date.now(),
    service: { service: c.snapshots.service, clients: [1], data: [], state },
  };
}

for (const c of cases) {
  const state = await c.snapshots.capture(c.service, ctx);
  const file = encodeSnapshot(roomSnapshot(c, state), 0);
  const pages = c.snapshots.service.startsWith("wasm:")
    ? `, ${new DataView(state.buffer, state.byteOffset).getUint32(8, true)} pages of memory`
    : "";
  console.log(`${c.name}: state ${state.length} bytes, snapshot file ${file.length} bytes${pages}`);

  Deno.bench({
    name: `snapshot: ${c.name}`,
    group: "snapshot",
    async fn() {
      encodeSnapshot(roomSnapshot(c, await c.snapshots.capture(c.service, ctx)), 0);
    },
  });
  Deno.bench({
    name: `restore: ${c.name}`,
    group: "restore",
    async fn() {
      const { snapshot } = decodeSnapshot(file);
      c.snapshots.check(snapshot.service.state);
      const restored = await c.snapshots.restore("bench", ctx, snapshot.service.state);
      (restored as Partial<Disposable>)[Symbol.dispose]?.();
    },
  });
}
