/**
 * Metered WASM rooms in one process: a runaway guest is stopped at its CPU limit inside its own
 * call, only its room closes (1011), and — thanks to time slicing — a healthy room in the same
 * process keeps answering while it spins. Metering is deterministic and changes no output.
 */

import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import { RoomCrashError } from "../room/room_engine.ts";
import { GuestInstance } from "../wasm/guest_instance.ts";
import { guestMetering, loadWasmService, type WasmService } from "../wasm/host.ts";
import { TestClient, WAIT_MS } from "./_client.ts";
import { fixture } from "./_fixtures.ts";
import { startServer, type TestServer } from "./_server.ts";
import { guestWat, wat } from "./_wat.ts";

const CPU_LIMIT = 0.5;
/** Generous: other test files share the 2 CPUs; the benchmark measures the real figures. */
const STOPPED_WITHIN_MS = 8000;

async function service(name: string, env?: Record<string, string>): Promise<WasmService> {
  return await loadWasmService(await fixture(name), { name: `${name}.wasm`, env });
}

async function echo(client: TestClient, text: string): Promise<number> {
  const started = performance.now();
  client.send(text);
  assert.equal(await client.next(), text);
  return performance.now() - started;
}

/**
 * Echo in `healthy` until `closed` settles; the slowest reply and how many there were. Without
 * time slicing there would be no reply at all until the spinning room is stopped.
 */
async function echoUntil(healthy: TestClient, closed: Promise<unknown>): Promise<[number, number]> {
  let done = false;
  closed.then(() => done = true, () => done = true);
  let slowest = 0;
  let replies = 0;
  const started = performance.now();
  while (!done && performance.now() - started < STOPPED_WITHIN_MS) {
    slowest = Math.max(slowest, await echo(healthy, `ping ${replies++}`));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return [slowest, replies];
}

async function metrics(server: TestServer): Promise<string> {
  return await (await fetch(`${server.http}/metrics`)).text();
}

const spinReason = (hook: string) =>
  `WASM guest ran past the CPU limit of ${CPU_LIMIT} s in "${hook}"`;

Deno.test("a guest spinning in any hook is stopped at the CPU limit; only its room closes, and a healthy room answers throughout", async () => {
  await using server = startServer(await service("spin"), { cpuLimit: CPU_LIMIT });
  const healthy = await server.connect("healthy");
  await echo(healthy, "warm");

  /** Start the spin with `trigger`; the spinning room's client must close with 1011. */
  const cases: [string, string, (room: string) => Promise<TestClient>][] = [
    ["spin-initialize-1", "initialize", (room) => Promise.resolve(new TestClient(server.ws(room)))],
    ["spin-connect-1", "connect", (room) => server.connect(room)],
    ["spin-timer-1", "timer", (room) => server.connect(room)],
    ["spin-disconnect-1", "disconnect", async (room) => {
      const staying = await server.connect(room);
      await (await server.connect(room)).close();
      return staying;
    }],
    ...["loop", "recurse", "nested", "host"].map((text, i) =>
      [`plain-${i}`, "message", async (room: string) => {
        const client = await server.connect(room);
        await echo(client, "fine");
        client.send(text);
        return client;
      }] as [string, string, (room: string) => Promise<TestClient>]
    ),
    ["plain-binary", "binary", async (room) => {
      const client = await server.connect(room);
      client.send(new Uint8Array([1, 2, 3]));
      return client;
    }],
  ];
  for (const [room, hook, trigger] of cases) {
    const started = performance.now();
    const spinning = await trigger(room);
    const closed = spinning.waitClosed(STOPPED_WITHIN_MS);
    const [slowest, replies] = await echoUntil(healthy, closed);
    const event = await closed;
    const ms = performance.now() - started;
    assert.deepEqual([event.code, event.reason], [CloseCode.InternalError, spinReason(hook)], room);
    assert.ok(replies >= 3, `${room}: only ${replies} replies in the healthy room during the spin`);
    assert.ok(slowest < 1000, `${room}: a healthy reply took ${slowest.toFixed(0)} ms`);
    assert.ok(ms < STOPPED_WITHIN_MS, `${room}: stopped after ${ms.toFixed(0)} ms`);
    await server.logger.waitFor(new RegExp(`Room "${room}" crashed \\(cpu_limit\\)`));
  }
  // The ids are usable again, and the healthy room never noticed.
  const again = await server.connect("plain-0");
  await echo(again, "usable again");
  await echo(healthy, "still here");
  assert.match(
    await metrics(server),
    new RegExp(`^jamsocket_room_crashes_total\\{reason="cpu_limit"\\} ${cases.length}$`, "m"),
  );
  await Promise.all([healthy.close(), again.close()]);
});

Deno.test("a guest spinning in _initialize or its start function is stopped; rooms of other services in the process go on", async () => {
  await using healthyServer = startServer(await service("echo"));
  const healthy = await healthyServer.connect("healthy");
  assert.equal(await healthy.next(), "hello");
  for (const name of ["spin_reactor", "spin_start"]) {
    // Loading instantiates the module once to read its version globals: the start function, now
    // part of the metered start-up, does not run then.
    await using server = startServer(await service(name), { cpuLimit: CPU_LIMIT });
    const spinning = new TestClient(server.ws("room"));
    const closed = spinning.waitClosed(STOPPED_WITHIN_MS);
    const [, replies] = await echoUntil(healthy, closed);
    const event = await closed;
    assert.deepEqual([event.code, event.reason], [
      CloseCode.InternalError,
      spinReason("initialize"),
    ]);
    assert.ok(replies >= 3, `${name}: only ${replies} healthy replies during the spin`);
  }
  await healthy.close();
});

Deno.test("the Rust cpu-hog, which calls the host's clock in a loop, is stopped at the CPU limit", async () => {
  const hog = await loadWasmService(new URL("../examples/wasm/cpu_hog.wasm", import.meta.url), {
    env: { HOG_SECONDS: "60" },
  });
  await using healthyServer = startServer(await service("echo"));
  const healthy = await healthyServer.connect("healthy");
  assert.equal(await healthy.next(), "hello");
  await using server = startServer(hog, { cpuLimit: CPU_LIMIT });
  // Its connect broadcasts "Connected." and then reads the clock for HOG_SECONDS.
  const spinning = await server.connect("hog");
  assert.equal(await spinning.next(), "Connected.");
  const closed = spinning.waitClosed(STOPPED_WITHIN_MS);
  const [, replies] = await echoUntil(healthy, closed);
  assert.equal((await closed).reason, spinReason("connect"));
  assert.ok(replies >= 3, `only ${replies} replies during the spin`);
  await healthy.close();
});

/** A guest instance of `service` with an exact fuel budget, driven by hand. */
function guest(
  service: WasmService,
  fuelPerEvent: number,
  fuelPerSlice: number,
  slicing: boolean,
): { instance: GuestInstance; sent: string[] } {
  const sent: string[] = [];
  const config = service.guestConfig({
    ...guestMetering({ cpuLimitFuel: fuelPerEvent, timeSlice: slicing ? 1 : 0 }),
    fuelPerSlice,
  });
  const instance = new GuestInstance(config, "room", {
    sendText: (_to, utf8) => sent.push(new TextDecoder().decode(utf8)),
    sendBinary() {},
    setTimer() {},
  });
  return { instance, sent };
}

Deno.test("metering is deterministic: an event uses the same fuel whatever the slices, and stops exactly past its budget", async () => {
  const features = await service("features");
  const text = "the same input, every time";
  let used: number | undefined;
  for (
    const [slice, slicing] of [[1_000_000, false], [50, false], [50, true], [7, true]] as const
  ) {
    const { instance, sent } = guest(features, 10_000_000, slice, slicing);
    await instance.ready;
    await instance.message(1, text);
    used ??= instance.lastEventFuel;
    assert.equal(instance.lastEventFuel, used, `slices of ${slice} (slicing ${slicing})`);
    assert.equal(sent.length, 1);
  }
  assert.ok(used! > 500, `the checksum of ${text.length} bytes used only ${used} fuel`);
  // A budget of exactly that much runs the event; one less stops it, at the same point each time:
  // after its answer, at the last checkpoint (jam_free's entry).
  const partial: string[][] = [];
  for (const slicing of [false, true]) {
    const enough = guest(features, used!, 100, slicing);
    await enough.instance.ready;
    await enough.instance.message(1, text);
    assert.equal(enough.sent.length, 1);
    const short = guest(features, used! - 1, 100, slicing);
    await short.instance.ready;
    await assert.rejects(
      async () => await short.instance.message(1, text),
      (error) => error instanceof RoomCrashError && error.kind === "cpu_limit",
    );
    partial.push(short.sent);
  }
  assert.deepEqual(partial[0], partial[1]);
});

Deno.test("metering changes no output: the SIMD, bulk-memory, reference-types and multi-value guest answers alike", async () => {
  const metered = await service("features");
  const plain = await loadWasmService(await fixture("features"), { metering: false });
  assert.equal(metered.metered, true);
  assert.equal(plain.metered, false);
  const answers: string[][] = [];
  for (const definition of [metered, plain]) {
    await using server = startServer(definition);
    const client = await server.connect("f");
    assert.equal(await client.next(), "hello");
    const seen: string[] = [];
    for (const text of ["", "a", "hello world", "ünïcödé ✓", "x".repeat(5000), "grow"]) {
      client.send(text);
      seen.push(await client.nextText());
    }
    assert.match(seen[1], /^sum \d+$/);
    answers.push(seen);
    await client.close();
  }
  assert.deepEqual(answers[0], answers[1]);
  assert.equal(answers[0][5], "2", "memory.grow(1) from 1 page answers 1 (printed + 1)");
});

Deno.test("a module the rewriter cannot meter is refused at load with one line naming the instruction", async () => {
  const bytes = wat(
    `(module
      (memory (export "memory") 1)
      (global (export "JAMSOCKET_API_VERSION") i32 (i32.const 16))
      (global (export "JAMSOCKET_API_PROTOCOL") i32 (i32.const 20))
      (data (i32.const 16) "\\01\\00\\00\\00\\00\\00\\00\\00")
      (func (export "jam_malloc") (param i32) (result i32) (i32.const 1024))
      (func (export "jam_free") (param i32 i32))
      (func (export "initialize") (param i32 i32) (try (do (nop)) (catch_all))))`,
    { exceptions: true },
  );
  assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>), "V8 accepts the module");
  await assert.rejects(
    loadWasmService(bytes, { name: "eh.wasm" }),
    (error: Error) => {
      assert.match(
        error.message,
        /^Cannot load WASM service "eh\.wasm": cannot meter: unsupported instruction 0x06 \(try\) in function 2 at byte offset \d+$/,
      );
      return true;
    },
  );
  // Unmetered, the same module loads: V8 runs exception handling itself.
  const plain = await loadWasmService(bytes, { name: "eh.wasm", metering: false });
  assert.equal(plain.metered, false);
});

Deno.test("the WASM memory budget: memory.grow past it answers -1 in the guest, a room that cannot start gets 503", async () => {
  const grow = await loadWasmService(await fixture("grow_memory"), { maxMemoryPages: 64 });
  // 8 pages in all; each room starts with 1.
  await using server = startServer(grow, {
    wasmMemoryBudget: 8 * 65536,
    shutdownPolicy: "immediate",
  });
  const a = await server.connect("a");
  assert.equal(await a.next(), "hello");
  const b = await server.connect("b");
  assert.equal(await b.next(), "hello");
  a.send("grow");
  assert.equal(await a.next(), "grew 6", "room a took what room b's start left");
  b.send("grow");
  assert.equal(await b.next(), "grew 0");
  const refused = await fetch(`${server.http}/ws/c`, { headers: { upgrade: "websocket" } });
  assert.equal(refused.status, 503);
  assert.match(
    await refused.text(),
    /^Server is out of WASM memory \(512 KiB of its 512 KiB budget in use; a room needs 64 KiB\); try again later$/,
  );
  // Closing room a gives its 7 pages back.
  await a.close();
  await waitForRooms(server, 1);
  const c = await server.connect("c");
  assert.equal(await c.next(), "hello");
  c.send("grow");
  assert.equal(await c.next(), "grew 6");
  await Promise.all([b.close(), c.close()]);
});

async function waitForRooms(server: TestServer, rooms: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!new RegExp(`^jamsocket_rooms ${rooms}$`, "m").test(await metrics(server))) {
    if (Date.now() > deadline) throw new Error(`the server never had ${rooms} rooms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("in a room host, a spinning guest crashes its room at the CPU limit, not its host", async () => {
  await using server = startServer(await service("spin"), {
    cpuLimit: CPU_LIMIT,
    roomHosts: 1,
  });
  const healthy = await server.connect("healthy");
  await echo(healthy, "warm");
  const spinning = await server.connect("spin-connect-h");
  const event = await spinning.waitClosed(STOPPED_WITHIN_MS);
  assert.deepEqual([event.code, event.reason], [CloseCode.InternalError, spinReason("connect")]);
  await echo(healthy, "the host lives");
  const text = await metrics(server);
  assert.match(text, /^jamsocket_room_host_restarts_total 0$/m);
  assert.match(text, /^jamsocket_room_crashes_total\{reason="cpu_limit"\} 1$/m);
  await healthy.close();
});

Deno.test("a guest that loops through tail calls, or through call_indirect, is stopped at its budget", async () => {
  const bytes = wat(
    guestWat(
      `(if (i32.eq (local.get $len) (i32.const 4))
         (then (return_call $ping (i32.const 0))))
       (loop $again (call_indirect (type $loop) (i32.const 0) (i32.const 0)) (br $again))`,
      "",
      `(type $loop (func (param i32)))
       (table 1 funcref)
       (elem (i32.const 0) func $spin)
       (func $spin (type $loop))
       (func $ping (param i32) (return_call $pong (i32.add (local.get 0) (i32.const 1))))
       (func $pong (param i32) (return_call $ping (local.get 0)))`,
    ),
    { tail_call: true },
  );
  const loops = await loadWasmService(bytes, { name: "loops.wasm" });
  for (const text of ["tail", "indirect"]) {
    const { instance } = guest(loops, 5_000_000, 10_000, false);
    await assert.rejects(
      async () => await instance.message(1, text),
      (error) => error instanceof RoomCrashError && error.kind === "cpu_limit",
      text,
    );
  }
});
