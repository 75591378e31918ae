/**
 * Snapshots of real guests over real sockets, mid-conversation: the Rust, C and AssemblyScript
 * counters go on from their value and the Rust clock keeps its timer, after hibernation (clients
 * stay connected) and after a graceful restart onto a state folder (clients reconnect); metered
 * (time sliced or not) and unmetered alike. And the TypeScript hooks, with and without.
 */

import assert from "node:assert/strict";
import { PersistentCounter } from "../examples/persistent_counter.ts";
import { SharedCounterServer } from "../examples/counter.ts";
import type { ServeOptions, ServiceDefinition } from "../server.ts";
import { loadWasmService } from "../wasm/host.ts";
import { fixture } from "./_fixtures.ts";
import { waitUntil } from "./_client.ts";
import { startServer } from "./_server.ts";

const TICK_MS = 150;
const wasm = (name: string, options: { metering?: boolean; env?: Record<string, string> } = {}) =>
  loadWasmService(new URL(`../examples/wasm/${name}.wasm`, import.meta.url), options);

/** A counter guest, and what it says when a client connects (if anything). */
interface Counter {
  service: ServiceDefinition;
  greeting?: (client: number) => string;
}

const modes: Record<string, { metering: boolean; options: ServeOptions }> = {
  "metered, time sliced": { metering: true, options: {} },
  "metered, not sliced": { metering: true, options: { timeSlice: 0 } },
  "not metered": { metering: false, options: {} },
};

const counters: Record<string, (metering: boolean) => Promise<Counter>> = {
  "Rust": async (metering) => ({ service: await wasm("counter", { metering }) }),
  "C": async (metering) => ({
    service: await wasm("counter_c", { metering }),
    greeting: (client) => `User ${client} connected.`,
  }),
  "AssemblyScript": async (metering) => ({ service: await wasm("counter_as", { metering }) }),
};

for (const [language, load] of Object.entries(counters)) {
  for (const [mode, { metering, options }] of Object.entries(modes)) {
    const counter = await load(metering);
    Deno.test(`snapshot (${language}, ${mode}): a hibernated counter answers with its value, to the same clients`, async () => {
      await using server = startServer(counter.service, { ...options, hibernateAfter: 0.05 });
      const ann = await server.connect("room");
      if (counter.greeting) assert.equal(await ann.nextText(), counter.greeting(1));
      const bob = await server.connect("room");
      if (counter.greeting) assert.equal(await bob.nextText(), counter.greeting(2));
      for (const n of [1, 2, 3]) {
        ann.send("increment");
        assert.equal(await ann.nextText(), `new value: ${n}`);
        assert.equal(await bob.nextText(), `new value: ${n}`);
      }
      // (A loaded machine may have hibernated it between two messages already: wait for the state.)
      await waitUntil(() => server.server.handler.rooms()[0].hibernated, "the room's hibernation");
      assert.match(
        server.logger.lines.findLast((line) => line.includes("hibernated"))!,
        /^debug Room "room" hibernated \(\d+ bytes of state\)$/,
      );
      assert.match(await metrics(server.http), /^jamsocket_rooms_hibernated 1$/m);
      bob.send("decrement");
      assert.equal(await ann.nextText(), "new value: 2");
      assert.equal(await bob.nextText(), "new value: 2");
      // A client that joins the woken room gets the next id.
      const cid = await server.connect("room");
      if (counter.greeting) assert.equal(await cid.nextText(), counter.greeting(3));
      cid.send("increment");
      assert.equal(await cid.nextText(), "new value: 3");
      assert.doesNotMatch(await metrics(server.http), /jamsocket_room_crashes_total\{/);
      await Promise.all([ann.close(), bob.close(), cid.close()]);
    });

    Deno.test(`snapshot (${language}, ${mode}): a counter saved at shutdown comes back after a restart`, async () => {
      const state = await Deno.makeTempDir();
      try {
        {
          await using server = startServer(counter.service, { ...options, state });
          const ann = await server.connect("room");
          if (counter.greeting) assert.equal(await ann.nextText(), counter.greeting(1));
          for (const n of [1, 2]) {
            ann.send("increment");
            assert.equal(await ann.nextText(), `new value: ${n}`);
          }
          const other = await server.connect("other");
          if (counter.greeting) assert.equal(await other.nextText(), counter.greeting(1));
          other.send("decrement");
          assert.equal(await other.nextText(), "new value: -1");
          await server.server.shutdown();
          assert.equal((await ann.waitClosed()).code, 1001);
          await server.logger.waitFor(/^info Saved 2 rooms to /);
        }
        await using server = startServer(counter.service, { ...options, state });
        const ann = await server.connect("room");
        // Client 1 was in the room when it was saved: the next client is 2.
        if (counter.greeting) assert.equal(await ann.nextText(), counter.greeting(2));
        ann.send("increment");
        assert.equal(await ann.nextText(), "new value: 3");
        const other = await server.connect("other");
        if (counter.greeting) assert.equal(await other.nextText(), counter.greeting(2));
        other.send("increment");
        assert.equal(await other.nextText(), "new value: 0");
        await server.logger.waitFor(/^info Restored room "room" from its snapshot \(\d+ bytes/);
        await Promise.all([ann.close(), other.close()]);
      } finally {
        await Deno.remove(state, { recursive: true });
      }
    });
  }
}

Deno.test("snapshot (Rust clock): a hibernated room's timer wakes it on time, and the ticks go on", async () => {
  const clock = await wasm("clock", { env: { CLOCK_TICK_MS: String(TICK_MS) } });
  await using server = startServer(clock, { hibernateAfter: 0.03 });
  const client = await server.connect("r");
  for (let tick = 0; tick < 4; tick++) {
    assert.equal(await client.nextText(), `Here in room r from timer @ ${tick}`);
  }
  // Between ticks (150 ms apart) the room was quiet for 30 ms: it hibernated each time.
  assert.ok(server.server.handler.metrics.hibernations >= 3, "hibernated between ticks");
  await client.close();
});

Deno.test("snapshot (Rust clock): the timer is saved with the room and fires after the restart", async () => {
  const clock = await wasm("clock", { env: { CLOCK_TICK_MS: String(TICK_MS) } });
  const state = await Deno.makeTempDir();
  try {
    {
      await using server = startServer(clock, { state });
      const client = await server.connect("r");
      assert.equal(await client.nextText(), "Here in room r from timer @ 0");
      assert.equal(await client.nextText(), "Here in room r from timer @ 1");
    }
    await using server = startServer(clock, { state });
    const client = await server.connect("r");
    const started = performance.now();
    assert.equal(await client.nextText(), "Here in room r from timer @ 2");
    assert.ok(performance.now() - started < TICK_MS + 1000, "the saved timer fired, not a new one");
    assert.equal(await client.nextText(), "Here in room r from timer @ 3");
    await client.close();
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("snapshot: globals of every number type, not exported, and memory past the initial image come back", async () => {
  const bytes = await fixture("globals");
  for (const metering of [true, false]) {
    const service = await loadWasmService(bytes, { metering, name: "globals.wasm" });
    await using server = startServer(service, { hibernateAfter: 0.03 });
    const client = await server.connect("g");
    assert.deepEqual(readGlobals(await client.next()), {
      i32: 7,
      i64: -3n,
      f32: 1.5,
      f64: -2.25,
      started: 1,
      pages: 2,
      byte: 0,
    });
    client.send("bump");
    client.send("bump");
    await client.next();
    const before = readGlobals(await client.next());
    assert.deepEqual(before, {
      i32: 9,
      i64: -3n + 2n * 2n ** 40n,
      f32: 2.5,
      f64: -1.75,
      started: 1,
      pages: 3,
      byte: 2,
    });
    await waitUntil(() => server.server.handler.rooms()[0].hibernated, "the room's hibernation");
    client.send(new Uint8Array([1]));
    assert.deepEqual(readGlobals(await client.next()), before, `metering: ${metering}`);
    await client.close();
  }
});

Deno.test("snapshot: a guest that changes its table is refused snapshots in one line, and runs as usual", async () => {
  const service = await loadWasmService(await fixture("table_set"), { name: "table_set.wasm" });
  assert.equal(service.snapshotRefusal, "function 5 changes table 0 (table.set)");
  await using server = startServer(service, { hibernateAfter: 0.01 });
  assert.deepEqual(server.logger.lines.filter((line) => line.startsWith("warn")), [
    "warn Rooms will not hibernate or persist: function 5 changes table 0 (table.set)",
  ]);
  const client = await server.connect("t");
  client.send("hello");
  assert.equal(await client.nextText(), "hello");
  await server.logger.waitFor(/^debug Created room "t"$/);
  assert.deepEqual(server.server.handler.rooms().map((room) => room.hibernated), [false]);
  await client.close();
});

Deno.test("snapshot (TypeScript with hooks): hibernates, and comes back after a restart", async () => {
  const state = await Deno.makeTempDir();
  try {
    {
      await using server = startServer(PersistentCounter, { state, hibernateAfter: 0.03 });
      const client = await server.connect("c");
      client.send("increment");
      assert.equal(await client.nextText(), "new value: 1");
      await waitUntil(() => server.server.handler.rooms()[0].hibernated, "the hibernation");
      assert.ok(server.logger.lines.includes('debug Room "c" hibernated (11 bytes of state)'));
      client.send("increment");
      assert.equal(await client.nextText(), "new value: 2");
    }
    await using server = startServer(PersistentCounter, { state });
    const client = await server.connect("c");
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 3");
    await client.close();
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("snapshot (TypeScript without hooks): says so once, never hibernates, restarts fresh", async () => {
  const state = await Deno.makeTempDir();
  try {
    {
      await using server = startServer(SharedCounterServer, { state, hibernateAfter: 0.01 });
      assert.deepEqual(server.logger.lines.filter((line) => line.startsWith("warn")), [
        'warn Rooms will not hibernate or persist: service "SharedCounterServer" has no static restore() (and snapshot()) hook',
      ]);
      const client = await server.connect("c");
      client.send("increment");
      assert.equal(await client.nextText(), "new value: 1");
      client.send("increment");
      assert.equal(await client.nextText(), "new value: 2");
      assert.equal(server.server.handler.metrics.hibernations, 0);
    }
    assert.deepEqual([...Deno.readDirSync(state)], []);
    await using server = startServer(SharedCounterServer, { state });
    const client = await server.connect("c");
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    await client.close();
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

async function metrics(http: string): Promise<string> {
  return await (await fetch(`${http}/metrics`)).text();
}

function readGlobals(frame: string | Uint8Array) {
  assert.ok(frame instanceof Uint8Array, "a binary frame");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return {
    i32: view.getInt32(0, true),
    i64: view.getBigInt64(4, true),
    f32: view.getFloat32(12, true),
    f64: view.getFloat64(16, true),
    started: view.getInt32(24, true),
    pages: view.getUint8(28),
    byte: view.getUint8(29),
  };
}
