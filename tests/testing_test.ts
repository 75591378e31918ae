import assert from "node:assert/strict";
import { test } from "node:test";
import { AuthenticatedChat } from "../examples/authenticated_chat.ts";
import { ClockServer } from "../examples/clock.ts";
import { EchoServer } from "../examples/echo.ts";
import type { ClientId, JamsocketContext, SimpleJamsocketService } from "../service.ts";
import {
  type ConnectRefusedError,
  TestRoom,
  VIRTUAL_EPOCH_MS,
  VirtualClock,
} from "../testing/mod.ts";
import { loadWasmService } from "../wasm/host.ts";

Deno.test("TestRoom: the clock example ticks every 4 s of virtual time, in order", async () => {
  await using room = new TestRoom(ClockServer);
  const a = await room.connect();
  const b = await room.connect();
  await room.advance(3999);
  assert.deepEqual(a.take(), []);
  await room.advance(1);
  assert.deepEqual(a.take(), ["Here in room test from timer @ 0"]);
  assert.deepEqual(b.take(), ["Here in room test from timer @ 0"]);
  await room.advance(8000);
  assert.equal(a.take().length, 2);
});

Deno.test("TestRoom: the WASM clock guest ticks on the virtual clock, as its TypeScript twin", async () => {
  const clock = await loadWasmService(new URL("../examples/wasm/clock.wasm", import.meta.url));
  await using native = new TestRoom(ClockServer, { roomId: "r" });
  await using wasm = new TestRoom(clock, { roomId: "r" });
  const [n, w] = [await native.connect(), await wasm.connect()];
  await Promise.all([native.advance(12_000), wasm.advance(12_000)]);
  const expected = [0, 1, 2].map((i) => `Here in room r from timer @ ${i}`);
  assert.deepEqual(n.take(), expected);
  assert.deepEqual(w.take(), expected);
});

Deno.test("TestRoom: auth hook data, refusals, kicks and crashes are observable", async () => {
  await using room = new TestRoom(AuthenticatedChat, { roomId: "lobby" });
  await assert.rejects(
    room.connect({ request: "http://localhost/ws/lobby?token=nope" }),
    (error: ConnectRefusedError) => error.status === 401 && error.body === "Unknown token",
  );
  const ann = await room.connect({ request: "http://localhost/ws/lobby?token=ann-secret" });
  const bob = await room.connect({ data: { name: "bob" } });
  assert.deepEqual(ann.take(), ["Welcome, ann!", "bob joined"]);
  ann.send("/kick bob");
  await room.settled();
  assert.deepEqual(bob.closed, { code: 4000, reason: "Kicked by ann", by: "server" });
  assert.deepEqual(ann.take(), ["bob left"]);
});

Deno.test("TestRoom: a crash closes every client with 1011 and the reason", async () => {
  await using room = new TestRoom(
    class {
      constructor() {
        throw new Error("no database");
      }
    },
  );
  const client = await room.connect();
  assert.equal(client.closed?.code, 1011);
  assert.match(
    client.closed!.reason,
    /Service constructor failed in room "test": Error: no database/,
  );
  assert.ok(room.closed);
  assert.ok(room.logs.some((line) => line.startsWith('error Room "test" crashed (constructor)')));
});

Deno.test("TestRoom: async hooks run one at a time and settled() waits for them", async () => {
  const clock = new VirtualClock();
  await using room = new TestRoom(
    class implements SimpleJamsocketService {
      #log: string[] = [];
      async message(client: ClientId, text: string, ctx: JamsocketContext) {
        await Promise.resolve();
        this.#log.push(text);
        ctx.sendMessage(client, this.#log.join(","));
      }
      binary(client: ClientId, bytes: Uint8Array, ctx: JamsocketContext) {
        ctx.sendBinary(client, bytes.reverse());
      }
    },
    { clock },
  );
  const client = await room.connect();
  client.send("a");
  client.send("b");
  client.send(new Uint8Array([1, 2, 3]));
  await room.settled();
  assert.deepEqual(client.take(), ["a", "a,b", new Uint8Array([3, 2, 1])]);
});

Deno.test("TestRoom: shutdown policies run on the virtual clock", async () => {
  const room = new TestRoom(EchoServer, { shutdownPolicy: "10sec" });
  const client = await room.connect();
  client.close();
  await room.advance(9999);
  assert.equal(room.closed, false);
  await room.advance(1);
  assert.equal(room.closed, true);
});

test("TestRoom works under node:test as well", async () => {
  await using room = new TestRoom(EchoServer);
  const client = await room.connect();
  client.send("hi");
  await room.settled();
  assert.deepEqual(client.take(), ["User 1 connected.", "User 1 sent 'hi'"]);
});

Deno.test("TestRoom: a WASM guest's randomness and clock are the test's: the same every run", async () => {
  const randomness = await loadWasmService(
    new URL("../examples/wasm/randomness.wasm", import.meta.url),
  );
  const run = async () => {
    await using room = new TestRoom(randomness);
    const client = await room.connect();
    return client.take();
  };
  const first = await run();
  assert.match(String(first[0]), /^User 1 connected\. Random number: \d+$/);
  assert.deepEqual(await run(), first);
  const clock = new VirtualClock();
  const readings: bigint[] = [];
  const env = clock.environment();
  readings.push(env.clock(0), env.clock(1));
  clock.advance(1500);
  readings.push(env.clock(1));
  assert.deepEqual(readings, [BigInt(VIRTUAL_EPOCH_MS) * 1_000_000n, 0n, 1_500_000_000n]);
});
