import assert from "node:assert/strict";
import { loadWasmService } from "../wasm/host.ts";
import type { ServeOptions } from "../server.ts";
import type { TestClient } from "./_client.ts";
import { fixture } from "./_fixtures.ts";
import { guestWat, wat } from "./_wat.ts";
import { startServer, type TestServer } from "./_server.ts";

/** A server running `module`'s rooms in room hosts. */
async function hosted(module: Uint8Array, options: ServeOptions = {}): Promise<TestServer> {
  const server = startServer(() => ({}), { roomHosts: 1, ...options });
  const service = await loadWasmService(module, { logger: server.logger });
  await server.server.handler.replaceService(service);
  return server;
}

Deno.test("RoomHostPool: a room reopened under the same id at once greets and echoes, 150 times", async () => {
  await using server = await hosted(await fixture("echo"), { shutdownPolicy: "immediate" });
  for (let i = 0; i < 150; i++) {
    const client = await server.connect("same");
    assert.equal(await client.next(2000), "hello", `reopening ${i} was not greeted`);
    client.send(`echo ${i}`);
    assert.equal(await client.next(2000), `echo ${i}`, `reopening ${i} did not echo`);
    await client.close();
  }
});

/**
 * A guest whose `message` runs for as many milliseconds as the text's first byte says (by the
 * WASI monotonic clock), then echoes the text; "0" never returns.
 */
const BUSY_GUEST = wat(guestWat(
  `(local $until i64)
   (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 48)) (then (loop $forever (br $forever))))
   (local.set $until (i64.add (call $now)
     (i64.mul (i64.extend_i32_u (i32.load8_u (local.get $ptr))) (i64.const 1000000))))
   (loop $busy (br_if $busy (i64.lt_u (call $now) (local.get $until))))
   (call $send (local.get $client) (local.get $ptr) (local.get $len))`,
  `(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))`,
  `(func $now (result i64)
     (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0)))
     (i64.load (i32.const 0)))`,
));

Deno.test("RoomHostPool: a burst of short events never trips the CPU limit; one long event does", async () => {
  await using server = await hosted(BUSY_GUEST, { cpuLimit: 0.5 });
  const busy = await server.connect("busy");
  const other = await server.connect("other");
  // 20 events of 50 ms in one burst: 1 s of work, twice the limit, each event a tenth of it.
  const burst = Array.from({ length: 20 }, (_, i) => `2${i}`); // "2" is 50 ms
  for (const text of burst) busy.send(text);
  for (const text of burst) assert.equal(await busy.next(), text);
  other.send("\x01 still here");
  assert.equal(await other.next(), "\x01 still here");
  assert.equal(server.server.handler.metrics.roomHostRestarts, 0, "the host was killed");

  busy.send("0"); // never returns
  const closed = await busy.waitClosed();
  assert.equal(closed.reason, "Room host stopped: an event ran past the CPU limit of 0.5 s");
  await other.waitClosed();
  assert.equal(server.server.handler.metrics.roomHostRestarts, 1);
});

const MIB = 1024 * 1024;

/** The next text frame; fails at once, with the close code and reason, if the socket closes. */
function nextText(client: TestClient, ms: number): Promise<string> {
  const closed = client.closed.then((event) => {
    throw new Error(`closed with ${event.code} (${event.reason}) before a frame came`);
  });
  return Promise.race([client.nextText(ms), closed]);
}

/** A guest that answers any message with 16 MiB of "a", built in its own memory. */
const BIG_SENDER = wat(guestWat(
  `(drop (memory.grow (i32.const 257)))
   (memory.fill (i32.const 65536) (i32.const 97) (i32.const ${16 * MIB}))
   (call $send (local.get $client) (i32.const 65536) (i32.const ${16 * MIB}))`,
));

Deno.test("RoomHostPool: a guest's 16 MiB message arrives whole and its host lives", async () => {
  // The limit is short so that a reader that copied its buffer again on every chunk (1 to 2.6 s
  // for 16 MiB, measured) has the host killed; a linear one needs well under 0.25 s.
  await using server = await hosted(BIG_SENDER, { cpuLimit: 0.75, maxBufferedBytes: 64 * MIB });
  const client = await server.connect("big");
  client.send("go");
  const text = await nextText(client, 20_000);
  assert.equal(text.length, 16 * MIB);
  assert.ok(/^a+$/.test(text), "the message is not 16 MiB of a");
  client.send("again");
  assert.equal((await nextText(client, 20_000)).length, 16 * MIB);
  assert.equal(server.server.handler.metrics.roomHostRestarts, 0, "the host was killed");
  await client.close();
});

Deno.test("RoomHostPool: a client's 16 MiB message reaches the guest whole and comes back", async () => {
  await using server = await hosted(await fixture("echo"), {
    cpuLimit: 0.75,
    maxMessageBytes: 32 * MIB,
    maxBufferedBytes: 64 * MIB,
  });
  const client = await server.connect("echo");
  assert.equal(await client.next(), "hello");
  const sent = "é".repeat(8 * MIB); // 16 MiB of UTF-8
  client.send(sent);
  assert.equal(await nextText(client, 20_000), sent);
  assert.equal(server.server.handler.metrics.roomHostRestarts, 0, "the host was killed");
  await client.close();
});
