/**
 * Stored snapshots that must not restore (corrupt, truncated, another module, another room, too
 * big for the memory limit) are refused with one line and the room starts fresh; periodic
 * snapshots; a destroyed room's snapshot goes; a stale fencing token is refused; a hibernated
 * room that cannot wake is crashed cleanly.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeSnapshot, encodeSnapshot } from "../snapshot/snapshot_format.ts";
import {
  FileSnapshotStore,
  MemorySnapshotStore,
  StaleSnapshotError,
} from "../snapshot/snapshot_store.ts";
import type { ServeOptions, ServiceDefinition } from "../server.ts";
import { loadWasmService } from "../wasm/host.ts";
import { waitUntil } from "./_client.ts";
import { startServer } from "./_server.ts";

const counter = await wasm("counter");

function wasm(name: string, maxMemoryPages?: number) {
  return loadWasmService(new URL(`../examples/wasm/${name}.wasm`, import.meta.url), {
    maxMemoryPages,
  });
}

/** Run a room of `service` on `state` up to "new value: 2", and shut down (saving it). */
async function saveCounterAt2(state: string, service: ServiceDefinition = counter): Promise<void> {
  await using server = startServer(service, { state });
  const client = await server.connect("r");
  client.send("increment");
  client.send("increment");
  await client.nextText();
  assert.equal(await client.nextText(), "new value: 2");
}

/** Connect to room "r" and check the counter starts fresh, with the one refusal line logged. */
async function expectFresh(
  state: string,
  reason: RegExp,
  service: ServiceDefinition = counter,
  options: ServeOptions = {},
): Promise<void> {
  const file = join(state, "r.snap");
  {
    await using server = startServer(service, { state, ...options });
    const client = await server.connect("r");
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    const refusals = server.logger.lines.filter((line) => line.includes("Refused the snapshot"));
    assert.equal(refusals.length, 1, refusals.join("\n"));
    assert.ok(refusals[0].startsWith(`warn Refused the snapshot of room "r" in ${file}: `));
    assert.match(refusals[0], reason);
    assert.ok(refusals[0].endsWith("; the room starts fresh"), refusals[0]);
    await client.close();
  }
  // Set aside for a look, never read again; the fresh room was saved in its place at shutdown.
  assert.ok(Deno.statSync(`${file}.refused`).isFile);
  assert.equal(decodeSnapshot(Deno.readFileSync(file)).snapshot.nextClientId, 2);
}

async function withState(test: (state: string) => Promise<void>): Promise<void> {
  const state = await Deno.makeTempDir();
  try {
    await test(state);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
}

Deno.test("persistence: a corrupt snapshot (one byte flipped) is refused and the room starts fresh", () =>
  withState(async (state) => {
    await saveCounterAt2(state);
    const file = join(state, "r.snap");
    const bytes = Deno.readFileSync(file);
    bytes[bytes.length - 40] ^= 0xff;
    Deno.writeFileSync(file, bytes);
    await expectFresh(state, /: checksum mismatch \(corrupt\);/);
  }));

Deno.test("persistence: a truncated snapshot is refused and the room starts fresh", () =>
  withState(async (state) => {
    await saveCounterAt2(state);
    const file = join(state, "r.snap");
    const bytes = Deno.readFileSync(file);
    Deno.writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    await expectFresh(state, /: truncated: \d+ of \d+ bytes;/);
  }));

Deno.test("persistence: a file that is not a snapshot at all is refused", () =>
  withState(async (state) => {
    Deno.writeFileSync(join(state, "r.snap"), new TextEncoder().encode("hello"));
    await expectFresh(state, /: truncated: 5 bytes;/);
    Deno.writeFileSync(join(state, "r.snap"), new TextEncoder().encode("hello, not a snapshot"));
    await Deno.remove(join(state, "r.snap.refused"));
    await expectFresh(state, /: not a snapshot \(bad magic number\);/);
  }));

Deno.test("persistence: a snapshot of another module is refused and the room starts fresh", () =>
  withState(async (state) => {
    await saveCounterAt2(state, await wasm("counter_as"));
    await expectFresh(
      state,
      /: it is from another build \(wasm:sha256:[0-9a-f]{12}…; this server runs wasm:sha256:[0-9a-f]{12}…\);/,
    );
  }));

Deno.test("persistence: a snapshot of a TypeScript service is refused by a WASM one", () =>
  withState(async (state) => {
    const { PersistentCounter } = await import("../examples/persistent_counter.ts");
    await saveCounterAt2(state, PersistentCounter);
    await expectFresh(
      state,
      /: it is from another kind of service \(ts:PersistentCounter; this server runs wasm:/,
    );
  }));

Deno.test("persistence: a snapshot under another room's file name is refused", () =>
  withState(async (state) => {
    await saveCounterAt2(state);
    await Deno.rename(join(state, "r.snap"), join(state, "elsewhere.snap"));
    const store = new FileSnapshotStore(state);
    const other = await store.load("elsewhere");
    await store.delete("elsewhere");
    Deno.writeFileSync(join(state, "r.snap"), patchRoom(other!, "q"));
    await expectFresh(state, /: it is the snapshot of room "q";/);
  }));

Deno.test("persistence: a snapshot with more memory than --memory-limit allows is refused", () =>
  withState(async (state) => {
    // The same module, so the same build: only the limit differs.
    const big = await wasm("counter", 64);
    await saveCounterAt2(state, big);
    const file = join(state, "r.snap");
    const { snapshot } = decodeSnapshot(Deno.readFileSync(file));
    // Make the saved guest 40 pages (the counter itself has 17).
    const state40 = snapshot.service.state.slice();
    new DataView(state40.buffer).setUint32(8, 40, true);
    Deno.writeFileSync(
      file,
      encodeSnapshot({ ...snapshot, service: { ...snapshot.service, state: state40 } }, 0),
    );
    await expectFresh(
      state,
      /: its state does not restore: guest state has 40 pages of memory, over the module's 20;/,
      await wasm("counter", 20),
    );
  }));

Deno.test("persistence: --snapshot-every saves the rooms that changed, and only those", () =>
  withState(async (state) => {
    await using server = startServer(counter, { state, snapshotEvery: 0.05 });
    const client = await server.connect("r");
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    const saved = () => server.server.handler.metrics.snapshotsSaved;
    const file = join(state, "r.snap");
    await waitUntil(() => saved() >= 1, "a periodic snapshot");
    assert.equal(decodeSnapshot(Deno.readFileSync(file)).snapshot.nextClientId, 2);
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 2");
    const before = saved();
    await waitUntil(() => saved() > before, "a second periodic snapshot");
    // Nothing changes now: over four more periods (an absence, so a wait), no more saves.
    const after = saved();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(saved(), after);
    await client.close();
  }));

Deno.test("persistence: a room its shutdown policy destroys loses its snapshot", () =>
  withState(async (state) => {
    await saveCounterAt2(state);
    await using server = startServer(counter, { state, shutdownPolicy: "immediate" });
    const client = await server.connect("r");
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 3");
    await client.close();
    await waitUntil(() => !existsSync(join(state, "r.snap")), "the snapshot's deletion");
    assert.equal(server.server.handler.rooms().length, 0);
  }));

Deno.test("persistence: a save with a lower fencing token than the stored one is refused", async () => {
  const snapshot = {
    roomId: "r",
    nextClientId: 2,
    timerMs: undefined,
    takenAt: Date.now(),
    service: { service: "ts:X", clients: [], data: [], state: new Uint8Array([0x31]) },
  };
  await withState(async (state) => {
    for (const store of [new FileSnapshotStore(state), new MemorySnapshotStore()]) {
      await store.save("r", encodeSnapshot(snapshot, 5));
      await store.save("r", encodeSnapshot({ ...snapshot, nextClientId: 3 }, 5));
      await assert.rejects(
        store.save("r", encodeSnapshot({ ...snapshot, nextClientId: 4 }, 4)),
        (error: Error) =>
          error instanceof StaleSnapshotError &&
          error.message ===
            'Refused a stale snapshot of room "r": fencing token 4, the stored one is 5',
      );
      await store.save("r", encodeSnapshot({ ...snapshot, nextClientId: 5 }, 6));
      const stored = decodeSnapshot((await store.load("r"))!);
      assert.deepEqual([stored.fence, stored.snapshot.nextClientId], [6, 5]);
    }
  });
});

Deno.test("persistence: a hibernated room that cannot get its memory back crashes with 1011, alone", async () => {
  // 20 pages of budget: one counter (17 pages) at a time.
  await using server = startServer(counter, {
    hibernateAfter: 0.03,
    wasmMemoryBudget: 20 * 65536,
  });
  const ann = await server.connect("a");
  ann.send("increment");
  assert.equal(await ann.nextText(), "new value: 1");
  await waitUntil(() => server.server.handler.rooms()[0].hibernated, "the hibernation");
  const bob = await server.connect("b");
  bob.send("increment");
  assert.equal(await bob.nextText(), "new value: 1");
  ann.send("increment");
  const closed = await ann.waitClosed();
  assert.equal(closed.code, 1011);
  assert.match(closed.reason, /^Cannot wake room "a" from its snapshot: /);
  await server.logger.waitFor(/^error Room "a" crashed \(restore\): Cannot wake room "a"/);
  bob.send("increment");
  assert.equal(await bob.nextText(), "new value: 2");
  await bob.close();
});

/** A snapshot's bytes with another room id in its header (and a checksum to match). */
function patchRoom(bytes: Uint8Array, roomId: string): Uint8Array {
  const { snapshot, fence } = decodeSnapshot(bytes);
  return encodeSnapshot({ ...snapshot, roomId }, fence);
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
