/**
 * One contract, run against the native TypeScript examples and their WASM twins (Rust, and C for
 * echo): same messages, same ids, same timer behaviour, same binary frames. The WASM twins run
 * metered (the default) in-process and in room hosts, and unmetered: metering changes nothing a
 * client sees. The clock's ticks are checked on the test kit's virtual clock (in room hosts, on
 * real time).
 */

import assert from "node:assert/strict";
import { BinaryEchoServer } from "../examples/binary_echo.ts";
import { ClockServer } from "../examples/clock.ts";
import { SharedCounterServer } from "../examples/counter.ts";
import { EchoServer } from "../examples/echo.ts";
import type { ServeOptions, ServiceDefinition } from "../server.ts";
import { loadWasmService } from "../wasm/host.ts";
import { startServer } from "./_server.ts";
import { TestRoom } from "../testing/mod.ts";

const TICK_MS = 40;
const wasm = (name: string, env?: Record<string, string>, metering = true) =>
  loadWasmService(new URL(`../examples/wasm/${name}.wasm`, import.meta.url), { env, metering });

interface Twin {
  options?: ServeOptions;
  counter?: ServiceDefinition;
  echo?: ServiceDefinition;
  clock?: ServiceDefinition;
  binaryEcho?: ServiceDefinition;
}

const rustTwins: Twin = {
  counter: await wasm("counter"),
  echo: await wasm("echo"),
  clock: await wasm("clock", { CLOCK_TICK_MS: String(TICK_MS) }),
  binaryEcho: await wasm("binary_echo"),
};

const twins: Record<string, Twin> = {
  "TypeScript": {
    counter: SharedCounterServer,
    echo: EchoServer,
    clock: (roomId, ctx) => new ClockServer(roomId, ctx, TICK_MS),
    binaryEcho: BinaryEchoServer,
  },
  "WASM (Rust)": rustTwins,
  "WASM (Rust) in room hosts": { ...rustTwins, options: { roomHosts: 2 } },
  "WASM (C)": { echo: await wasm("echo_c") },
  "WASM (AssemblyScript)": { counter: await wasm("counter_as") },
  "WASM (Rust, not metered)": {
    counter: await wasm("counter", undefined, false),
    echo: await wasm("echo", undefined, false),
    clock: await wasm("clock", { CLOCK_TICK_MS: String(TICK_MS) }, false),
    binaryEcho: await wasm("binary_echo", undefined, false),
  },
  "WASM (C, not metered)": { echo: await wasm("echo_c", undefined, false) },
  "WASM (AssemblyScript, not metered)": { counter: await wasm("counter_as", undefined, false) },
};

for (const [language, twin] of Object.entries(twins)) {
  if (twin.counter) {
    const service = twin.counter;
    Deno.test(`contract (${language}): the counter broadcasts every change to its room only`, async () => {
      await using server = startServer(service, twin.options);
      const a = await server.connect("1");
      const b = await server.connect("1");
      const other = await server.connect("2");
      a.send("increment");
      assert.deepEqual([await a.next(), await b.next()], ["new value: 1", "new value: 1"]);
      b.send("increment");
      b.send("decrement");
      b.send("anything");
      for (const client of [a, b]) {
        assert.deepEqual(
          [await client.next(), await client.next(), await client.next()],
          ["new value: 2", "new value: 1", "new value: 1"],
        );
      }
      other.send("decrement");
      assert.equal(await other.next(), "new value: -1");
      assert.deepEqual([a.buffered, b.buffered], [[], []]);
      await Promise.all([a.close(), b.close(), other.close()]);
    });
  }

  if (twin.echo) {
    const service = twin.echo;
    Deno.test(`contract (${language}): echo numbers clients from 1 and says who sent and who left`, async () => {
      await using server = startServer(service, twin.options);
      const first = await server.connect("room");
      assert.equal(await first.next(), "User 1 connected.");
      const second = await server.connect("room");
      assert.equal(await second.next(), "User 2 connected.");
      second.send("héllo 🎉 'quoted'");
      for (const client of [first, second]) {
        assert.equal(await client.next(), "User 2 sent 'héllo 🎉 'quoted''");
      }
      second.send("");
      assert.equal(await first.next(), "User 2 sent ''");
      await first.close();
      assert.equal(await second.next(), "User 2 sent ''");
      assert.equal(await second.next(), "User 1 left.");
      const third = await server.connect("room");
      assert.equal(await third.next(), "User 3 connected.");
      const elsewhere = await server.connect("elsewhere");
      assert.equal(await elsewhere.next(), "User 1 connected.");
      await Promise.all([second.close(), third.close(), elsewhere.close()]);
    });
  }

  if (twin.clock && twin.options?.roomHosts) {
    const service = twin.clock;
    Deno.test(`contract (${language}): the clock ticks from the timer it sets when created`, async () => {
      await using server = startServer(service, twin.options);
      const client = await server.connect("tick room");
      const started = performance.now();
      assert.equal(await client.next(), "Here in room tick room from timer @ 0");
      assert.equal(await client.next(), "Here in room tick room from timer @ 1");
      assert.equal(await client.next(), "Here in room tick room from timer @ 2");
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 2 * TICK_MS - 5, `three ticks in ${elapsed} ms`);
      await client.close();
    });
  } else if (twin.clock) {
    const service = twin.clock;
    Deno.test(`contract (${language}): the clock ticks from the timer it sets when created`, async () => {
      await using room = new TestRoom(service, { roomId: "tick room" });
      const client = await room.connect();
      await room.advance(TICK_MS - 1);
      assert.deepEqual(client.take(), []);
      await room.advance(1);
      assert.deepEqual(client.take(), ["Here in room tick room from timer @ 0"]);
      await room.advance(2 * TICK_MS);
      assert.deepEqual(client.take(), [
        "Here in room tick room from timer @ 1",
        "Here in room tick room from timer @ 2",
      ]);
    });
  }

  if (twin.binaryEcho) {
    const service = twin.binaryEcho;
    Deno.test(`contract (${language}): binary echo turns text into bytes and bytes into text`, async () => {
      await using server = startServer(service, twin.options);
      const a = await server.connect("bin");
      const b = await server.connect("bin");
      a.send("hi ✓");
      for (const client of [a, b]) {
        assert.deepEqual(await client.next(), new TextEncoder().encode("hi ✓"));
      }
      a.send(new Uint8Array([1, 2, 255]));
      assert.equal(await b.next(), "Received binary data: [1, 2, 255]");
      a.send(new Uint8Array([]));
      assert.equal(await b.next(), "Received binary data: []");
      await Promise.all([a.close(), b.close()]);
    });
  }
}
