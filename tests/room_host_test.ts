import assert from "node:assert/strict";
import { GC_EVERY_ROOMS, MAX_EVENT_OUTPUT } from "../room_host/host_main.ts";
import { defaultHostCommand } from "../room_host/pool.ts";
import { WASM_ROOMS_V8_FLAGS } from "../wasm/v8_flags.ts";
import { Frame, FrameReader, FrameWriter } from "../room_host/protocol.ts";
import { loadWasmService } from "../wasm/host.ts";
import type { ServeOptions } from "../server.ts";
import { startCli } from "./_cli.ts";
import { TestClient, waitUntil, withTimeout } from "./_client.ts";
import { fixture } from "./_fixtures.ts";
import { RawSocket } from "./_raw_socket.ts";
import { guestWat, wat } from "./_wat.ts";
import { startServer, type TestServer } from "./_server.ts";

/** A server running `module`'s rooms in room hosts. */
async function hosted(
  module: Uint8Array,
  options: ServeOptions = {},
  metering = true,
): Promise<TestServer> {
  const server = startServer(() => ({}), { roomHosts: 1, ...options });
  const service = await loadWasmService(module, { logger: server.logger, metering });
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

Deno.test("RoomHostPool: a burst of short events never trips the watchdog; one long event does", async () => {
  // Unmetered, so that the watchdog (the backstop behind metering) is what stops the long event.
  await using server = await hosted(BUSY_GUEST, { cpuLimit: 0.5 }, false);
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

Deno.test("RoomHostPool: past --rooms-per-host, a new room gets 503 before the upgrade and the server lives", async () => {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  await Deno.writeFile(path, await fixture("echo"));
  const cli = await startCli([
    "serve",
    path,
    "--room-hosts",
    "1",
    "--rooms-per-host",
    "5",
    "--shutdown-policy",
    "immediate",
  ]);
  const url = (room: string) => `ws://127.0.0.1:${cli.port}/ws/${room}`;
  const clients = await Promise.all([0, 1, 2, 3, 4].map((i) => TestClient.open(url(`r${i}`))));
  for (const client of clients) assert.equal(await client.next(), "hello");

  await assert.rejects(RawSocket.connect(cli.port, "/ws/r5"), /handshake refused: HTTP\/1.1 503/);
  const refused = await fetch(`http://127.0.0.1:${cli.port}/ws/r5`, { method: "POST" });
  assert.equal(refused.status, 503);
  assert.equal(await refused.text(), "Server is at capacity (5 rooms); try again later");
  assert.equal((await fetch(`http://127.0.0.1:${cli.port}/status`)).status, 200);
  clients[1].send("still served");
  assert.equal(await clients[1].next(), "still served");

  // A closed room gives its place back once its host has let it go.
  await clients[0].close();
  let fresh: RawSocket | undefined;
  await waitUntil(async () => {
    fresh = await RawSocket.connect(cli.port, "/ws/r5").catch(() => undefined);
    return fresh !== undefined;
  }, "a place for a new room");
  fresh!.close();
  await Promise.all(clients.slice(1).map((client) => client.close()));
  assert.equal((await cli.stop()).code, 0);
  await Deno.remove(path);
});

Deno.test("RoomHostPool: a host command that cannot start is logged and retried; the server lives", async () => {
  await using server = startServer(() => ({}), {
    roomHosts: 1,
    roomHostCommand: ["/nonexistent/jamsocket-room-host"],
  });
  await server.server.handler.replaceService(
    await loadWasmService(await fixture("echo"), { logger: server.logger }),
  );
  await server.logger.waitFor(
    /^error Cannot start room host 1: NotFound: .*; trying again in 250 ms$/,
  );
  await server.logger.waitFor(/^error Cannot start room host 2: .*; trying again in 500 ms$/);
  await assert.rejects(
    RawSocket.connect(server.server.addr.port, "/ws/x"),
    /handshake refused: HTTP\/1.1 503/,
  );
  assert.equal((await fetch(`${server.http}/status`)).status, 200);
});

/** Start `host_main.ts` as the pool does, connected to a socket this test listens on. */
async function hostProcess(): Promise<{
  conn: Deno.UnixConn;
  child: Deno.ChildProcess;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/host.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const [command, ...args] = defaultHostCommand(path);
  const child = new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).spawn();
  const conn = await listener.accept();
  listener.close();
  return {
    conn,
    child,
    async [Symbol.asyncDispose]() {
      try {
        conn.close();
      } catch {
        // closed by the test
      }
      try {
        child.kill("SIGKILL");
      } catch {
        // already ended
      }
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Wait for the process to end: its exit code and the lines on its stderr. */
async function ended(child: Deno.ChildProcess): Promise<[code: number, stderr: string[]]> {
  const [status, stderr] = await Promise.all([
    withTimeout(child.status, 10_000, "the room host to exit"),
    new Response(child.stderr).text(),
  ]);
  return [status.code, stderr.trimEnd().split("\n")];
}

async function write(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

Deno.test("a room host runs with V8 set for many WASM rooms (wasm/v8_flags.ts)", async () => {
  await using host = await hostProcess();
  const argv = (await Deno.readTextFile(`/proc/${host.child.pid}/cmdline`)).split("\0");
  assert.ok(argv.includes(`--v8-flags=${WASM_ROOMS_V8_FLAGS}`), argv.join(" "));
});

Deno.test("host_main: a module that does not load answers FAILED, then one line on stderr and exit 1", async () => {
  await using host = await hostProcess();
  const writer = new FrameWriter();
  writer.load({ name: "bad.wasm", maxMemoryPages: 16, args: [], env: {} }, new Uint8Array([1, 2]));
  await write(host.conn, writer.take());
  const reader = new FrameReader();
  const types: number[] = [];
  for await (const chunk of host.conn.readable) {
    for (const frame of reader.push(chunk)) types.push(frame.type);
  }
  assert.deepEqual(types, [Frame.Failed, Frame.Done]);
  const [code, stderr] = await ended(host.child);
  assert.equal(code, 1);
  assert.equal(stderr.length, 1, stderr.join("\n"));
  assert.match(stderr[0], /^error: Cannot load the module: .*bad\.wasm/);
});

Deno.test("host_main: a malformed frame is one line on stderr and exit 1", async () => {
  await using host = await hostProcess();
  const writer = new FrameWriter();
  writer.load({ name: "echo.wasm", maxMemoryPages: 16, args: [], env: {} }, await fixture("echo"));
  await write(host.conn, writer.take());
  await write(host.conn, new Uint8Array(8)); // a frame of length 0
  const [code, stderr] = await ended(host.child);
  assert.equal(code, 1);
  assert.deepEqual(stderr, ["error: RangeError: Room host protocol: a frame has length 0"]);
});

Deno.test("host_main: a socket it cannot reach is one line on stderr and exit 1", async () => {
  const [command, ...args] = defaultHostCommand("/nonexistent/host.sock");
  const child = new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).spawn();
  const [code, stderr] = await ended(child);
  assert.equal(code, 1);
  assert.equal(stderr.length, 1, stderr.join("\n"));
  assert.match(stderr[0], /^error: NotFound: /);
});

Deno.test("host_main: after every GC_EVERY_ROOMS rooms closed, the host frees their instances", async () => {
  await using server = await hosted(await fixture("echo"), { shutdownPolicy: "immediate" });
  const churn = async (room: string) => {
    const client = await server.connect(room);
    assert.equal(await client.next(), "hello");
    await client.close();
  };
  for (let i = 0; i < GC_EVERY_ROOMS; i += 25) {
    await Promise.all(Array.from({ length: 25 }, (_, j) => churn(`churn-${i + j}`)));
  }
  const line = await server.logger.waitFor(/Room host collected garbage/);
  const [, rooms, before, after] = /after (\d+) rooms closed: RSS ([\d.]+) → ([\d.]+) MiB$/.exec(
    line,
  )!;
  assert.equal(Number(rooms), GC_EVERY_ROOMS);
  assert.ok(Number(after) < Number(before), line);
  // The host goes on serving.
  await churn("after");
});

Deno.test("RoomHostPool: a host that sends a malformed frame is stopped and replaced, in one line", async () => {
  await using server = startServer(() => ({}), {
    roomHosts: 1,
    roomHostCommand: [
      Deno.execPath(),
      "run",
      "-A",
      new URL("./fixtures/malformed_host.ts", import.meta.url).pathname,
    ],
  });
  await server.server.handler.replaceService(
    await loadWasmService(await fixture("echo"), { logger: server.logger }),
  );
  await server.logger.waitFor(
    /^error Room host 1 sent a malformed frame \(RangeError: Room host protocol: a frame has length 0\); stopping it$/,
  );
  await server.logger.waitFor(
    /^error Room host 1 exited unexpectedly \(SIGKILL\); starting another in 250 ms$/,
  );
  await server.logger.waitFor(/^error Room host 2 sent a malformed frame/);
  assert.equal((await fetch(`${server.http}/status`)).status, 200);
});

Deno.test("RoomHostPool: a guest that sends more than 64 MiB in one event crashes its room, not its host", async () => {
  // "f…": send 1 MiB to nobody 100 times in this one event; anything else is echoed.
  const flood = wat(guestWat(
    `(local $i i32)
     (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 102))
       (then
         (drop (memory.grow (i32.const 17)))
         (block $done (loop $again
           (br_if $done (i32.ge_u (local.get $i) (i32.const 100)))
           (call $send (i32.const 999) (i32.const 65536) (i32.const 1048576))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br $again)))))
     (call $send (local.get $client) (local.get $ptr) (local.get $len))`,
  ));
  await using server = await hosted(flood);
  const calm = await server.connect("calm");
  const loud = await server.connect("loud");
  loud.send("flood");
  const closed = await loud.waitClosed();
  assert.equal(closed.code, 1011);
  assert.equal(closed.reason, `The guest sent more than ${MAX_EVENT_OUTPUT} bytes in one event`);
  await server.logger.waitFor(/^error Room "loud" crashed \(output_limit\): /);
  // The same host still runs the other room.
  calm.send("still here");
  assert.equal(await calm.next(), "still here");
  await calm.close();
});

Deno.test("RoomHostPool: while a guest spins, its host's rooms hold at most 16 MiB of messages; past it, 1013", async () => {
  // A limit the flood below fits in on a loaded machine: a runaway event stops after 30–100% of
  // it (wasm/fuel.ts); with 1 s the spin once ended before 24 MB had arrived, with 3 s once
  // under `deno task ok`.
  await using server = await hosted(await fixture("hog"), { cpuLimit: 6 });
  const spinner = await server.connect("busy");
  const flooder = await server.connect("busy");
  flooder.send("ready?");
  assert.equal(await flooder.next(), "ready?");
  spinner.send("spin");
  // 300 messages of 60 KB (18 MB) while the host runs the spin: the front holds 16 MiB, then 1013.
  const text = "x".repeat(60_000);
  for (let i = 0; i < 300; i++) flooder.send(text);
  const event = await flooder.waitClosed();
  assert.equal(event.code, 1013);
  assert.match(event.reason, /^Room is busy: \d+ bytes of messages wait for it; try again later$/);
  // The spin ends at the CPU limit (its room crashes) and the host serves a new room.
  assert.equal((await spinner.waitClosed(10_000)).code, 1011);
  const after = await server.connect("after");
  after.send("fine");
  assert.equal(await after.next(), "fine");
  await after.close();
});
