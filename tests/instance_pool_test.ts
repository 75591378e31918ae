import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import type { JamsocketContext } from "../service.ts";
import type { GuestInstance } from "../wasm/guest_instance.ts";
import type { InstancePool } from "../wasm/instance_pool.ts";
import { loadWasmService, type WasmService } from "../wasm/host.ts";
import { fixture } from "./_fixtures.ts";
import { guestWat, wat } from "./_wat.ts";
import { startServer, type TestServer } from "./_server.ts";
import { type Frame, waitUntil } from "./_client.ts";

/**
 * A guest with state in a global and in memory: each message adds 1 to both and answers them as
 * two digits ("11" from a fresh instance). "grow" grows its memory by a page; "trap" traps.
 */
const STATEFUL = wat(guestWat(
  `(if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 103)) (then (drop (memory.grow (i32.const 1)))))
   (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 116)) (then unreachable))
   (global.set $n (i32.add (global.get $n) (i32.const 1)))
   (i32.store8 (i32.const 50000) (i32.add (i32.load8_u (i32.const 50000)) (i32.const 1)))
   (i32.store8 (i32.const 0) (i32.add (global.get $n) (i32.const 48)))
   (i32.store8 (i32.const 1) (i32.add (i32.load8_u (i32.const 50000)) (i32.const 48)))
   (call $send (local.get $client) (i32.const 0) (i32.const 2))`,
  "",
  `(global $n (mut i32) (i32.const 0))`,
));

/** A room context whose sends go into `into` (the guests here only send text). */
function contextFor(into: string[]): JamsocketContext {
  return {
    sendMessage: (_: unknown, text: string) => void into.push(text),
  } as unknown as JamsocketContext;
}

/** Wait until the server has closed every room. */
function noRooms(server: TestServer): Promise<void> {
  return waitUntil(
    async () => /^jamsocket_rooms 0$/m.test(await (await fetch(`${server.http}/metrics`)).text()),
    "every room closed",
  );
}

function poolOf(service: WasmService): InstancePool {
  const pool = service.guestConfig().pool;
  assert.ok(pool, "this module's instances should be pooled");
  return pool;
}

/** Open a client in `room`, send `text`, and return the reply once the client has closed. */
async function answerOnce(server: TestServer, room: string, text: string): Promise<Frame> {
  const client = await server.connect(room);
  client.send(text);
  const reply = await client.next();
  await client.close();
  return reply;
}

/** Serve the stateful guest on `server`; returns its pool. */
async function serveStateful(server: TestServer): Promise<InstancePool> {
  const service = await loadWasmService(STATEFUL, { logger: server.logger });
  await server.server.handler.replaceService(service);
  return poolOf(service);
}

Deno.test("a new room reuses an ended room's instance, made fresh: the client sees a new room's state", async () => {
  await using server = startServer(() => ({}), { shutdownPolicy: "immediate" });
  const pool = await serveStateful(server);
  const first = await server.connect("first");
  for (const expected of ["11", "22", "33"]) {
    first.send("x");
    assert.equal(await first.next(), expected);
  }
  await first.close();
  await noRooms(server);
  assert.equal(pool.idle, 1);
  assert.equal(await answerOnce(server, "second", "x"), "11");
  await noRooms(server);
  assert.equal(pool.idle, 1, "the second room took the first one's instance, and gave it back");
});

Deno.test("a reused instance is byte for byte a fresh one: every event uses the same fuel", async () => {
  // The Rust counter: its allocator's state decides how much fuel each event takes.
  const service = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  const pool = poolOf(service);
  const factory = service.roomFactory();
  const sent: string[] = [];
  const ctx = contextFor(sent);
  const run = async (started = () => {}) => {
    const guest = await factory("room", ctx, undefined) as GuestInstance;
    started();
    const fuel = [guest.lastEventFuel];
    for (const text of ["increment", "increment", "decrement"]) {
      await guest.message(1, text);
      fuel.push(guest.lastEventFuel);
    }
    guest[Symbol.dispose]();
    return fuel;
  };
  const fresh = await run();
  assert.equal(pool.idle, 1);
  const reused = await run(() => assert.equal(pool.idle, 0, "the second room took the instance"));
  assert.equal(pool.idle, 1, "and gave it back");
  assert.deepEqual(reused, fresh);
  const values = ["new value: 1", "new value: 2", "new value: 1"];
  assert.deepEqual(sent, [...values, ...values]);
});

Deno.test("an instance whose room crashed, or whose memory grew, is never reused", async () => {
  await using server = startServer(() => ({}), { shutdownPolicy: "immediate" });
  const pool = await serveStateful(server);
  const trapped = await server.connect("trapped");
  trapped.send("t");
  assert.equal((await trapped.waitClosed()).code, CloseCode.InternalError);
  assert.equal(await answerOnce(server, "grown", "g"), "11");
  await noRooms(server);
  assert.equal(pool.idle, 0);
  // Both were dropped: the next room gets a new instance, fresh as ever.
  assert.equal(await answerOnce(server, "next", "x"), "11");
});

Deno.test("a released instance no longer reaches its old room, and the old room cannot run it", async () => {
  const service = await loadWasmService(STATEFUL);
  const factory = service.roomFactory();
  const old: string[] = [];
  const current: string[] = [];
  const first = await factory("first", contextFor(old), undefined) as GuestInstance;
  await first.message(1, "x");
  first[Symbol.dispose]();
  const second = await factory("second", contextFor(current), undefined) as GuestInstance;
  await second.message(1, "x");
  assert.deepEqual([old, current], [["11"], ["11"]]);
  assert.throws(() => first.message(1, "x"), /This room's WASM instance was released/);
  assert.throws(() => first.snapshot(), /This room's WASM instance was released/);
  assert.deepEqual([old, current], [["11"], ["11"]]);
  second[Symbol.dispose]();
});

Deno.test("a module that drops a passive segment, or changes a table, gets no pool", async () => {
  const drops = wat(guestWat(
    `(data.drop $passive)`,
    "",
    `(data $passive "state")`,
  ));
  assert.equal((await loadWasmService(drops)).guestConfig().pool, undefined);
  assert.equal((await loadWasmService(await fixture("table_set"))).guestConfig().pool, undefined);
  assert.equal(
    (await loadWasmService(STATEFUL, { metering: false })).guestConfig().pool,
    undefined,
  );
});
