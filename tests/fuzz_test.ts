/**
 * Fuzzing with counts: random and adversarial HTTP requests, WebSocket frames, and event
 * sequences against hostile WASM guests. Each test prints its seed and counts; rerun one with
 * `FUZZ_SEED=<seed> deno test -A tests/fuzz_test.ts`. Every case must leave the server serving,
 * no room leaked, and a control room answering.
 */

import assert from "node:assert/strict";
import { LocalEngine } from "../room/local_engine.ts";
import type { CrashKind, RoomCrashError } from "../room/room_engine.ts";
import { createHandler } from "../server.ts";
import { loadWasmService } from "../wasm/host.ts";
import { waitUntil } from "./_client.ts";
import { fixture } from "./_fixtures.ts";
import { Opcode, RawSocket } from "./_raw_socket.ts";
import { CaptureLogger, startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";
import { prng } from "./_prng.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

type Random = ReturnType<typeof prng>;

const Echo = recordingEcho();

/** A room id or path segment as an attacker might write it. */
function hostileSegment(r: Random): string {
  switch (r.int(9)) {
    case 0:
      return "";
    case 1:
      return "..";
    case 2:
      return "%2e%2e%2f".repeat(r.int(4) + 1);
    case 3:
      return `%${r.pick(["", "z", "zz", "0", "ff", "c3", "00", "0a", "7f"])}`;
    case 4:
      return encodeURIComponent(String.fromCharCode(...r.bytes(r.int(20)).map((b) => b % 0x80)));
    case 5:
      return "x".repeat(r.pick([255, 256, 257, 1024, 10_000]));
    case 6:
      return encodeURIComponent("é🎉\u202e".repeat(r.int(100)));
    case 7:
      return [...r.bytes(r.int(30))].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    default:
      return `room-${r.int(1000)}`;
  }
}

Deno.test(`fuzz: random HTTP requests never get a 500 and create only the rooms they report (seed ${SEED})`, async () => {
  const r = prng(SEED);
  const logger = new CaptureLogger();
  const handler = createHandler(Echo, { logger, maxRooms: 300, shutdownPolicy: "never" });
  const methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
  const statuses = new Map<number, number>();
  let created = 0;
  const cases = 4000;
  for (let i = 0; i < cases; i++) {
    const method = r.pick(methods);
    const path = r.pick([
      () => `/ws/${hostileSegment(r)}`,
      () => `/ws/${hostileSegment(r)}/${hostileSegment(r)}`,
      () => "/new_room",
      () => `/${hostileSegment(r)}`,
      () => r.pick(["/status", "/metrics", "/ws", "/ws/", "//", "/new_room/x"]),
    ])();
    let url: URL;
    try {
      url = new URL(`http://localhost${path}`);
    } catch {
      continue;
    }
    const headers = r.next() < 0.3 ? { upgrade: "websocket", connection: "Upgrade" } : undefined;
    const response = await handler(new Request(url, { method, headers }));
    const body = await response.text();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    assert.notEqual(response.status, 500, `${method} ${path} → 500`);
    if (response.status >= 400) assert.doesNotMatch(body, /\n/, `${method} ${path}: ${body}`);
    if (response.status === 200 && method === "POST") created++;
  }
  const metrics = handler.metrics.render({ rooms: 0, clients: 0, queueDepth: 0, roomHosts: 0 });
  assert.match(metrics, new RegExp(`^jamsocket_rooms_created_total ${created}$`, "m"));
  assert.equal((await handler(new Request("http://localhost/status"))).status, 200);
  assert.deepEqual(logger.lines.filter((line) => line.startsWith("error")), []);
  console.log(
    `${cases} requests (seed ${SEED}): ${
      [...statuses].sort().map(([s, n]) => `${n}×${s}`).join(", ")
    }; ${created} rooms created, as reported`,
  );
  await handler.shutdown();
});

Deno.test(`fuzz: raw HTTP request lines over TCP never take the server down (seed ${SEED})`, async () => {
  const r = prng(SEED + 1);
  await using server = startServer(Echo);
  const port = server.server.addr.port;
  const answers = new Map<string, number>();
  const cases = 200;
  for (let i = 0; i < cases; i++) {
    const target = r.pick([
      () => `/ws/${hostileSegment(r)}`,
      () => `/${hostileSegment(r)}`,
      () => `/ws/${String.fromCharCode(...r.bytes(r.int(12)).map((b) => 33 + (b % 94)))}`,
      () => `http://evil.example/${hostileSegment(r)}`,
      () => "*",
    ])();
    const method = r.pick(["GET", "POST", "BREW", "get", "CONNECT"]);
    const upgrade = r.next() < 0.5
      ? `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: ${
        r.pick(["13", "8", "x"])
      }\r\n${r.next() < 0.5 ? "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" : ""}`
      : "";
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(`${method} ${target} HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`),
    );
    const buffer = new Uint8Array(1024);
    const read = await conn.read(buffer).catch(() => null);
    conn.close();
    const line = read ? new TextDecoder().decode(buffer.subarray(0, read)).split("\r\n")[0] : "EOF";
    const status = line.split(" ")[1] ?? line;
    assert.notEqual(status, "500", `${method} ${target}: ${line}`);
    answers.set(status, (answers.get(status) ?? 0) + 1);
  }
  assert.equal(await (await fetch(`${server.http}/status`)).text(), "ok");
  const control = await server.connect("control");
  control.send("alive");
  assert.equal(await control.next(), "alive");
  await control.close();
  console.log(
    `${cases} raw requests (seed ${SEED}): ${
      [...answers].sort().map(([s, n]) => `${n}×${s}`).join(", ")
    }`,
  );
});

/** One random frame: valid or not, fragmented, oversized, unmasked, with reserved bits. */
async function randomFrame(r: Random, socket: RawSocket): Promise<string> {
  const kind = r.int(10);
  switch (kind) {
    case 0:
      await socket.send(Opcode.Text, new TextEncoder().encode("é".repeat(r.int(50))));
      return "text";
    case 1:
      await socket.send(Opcode.Text, r.bytes(r.int(40)));
      return "text (random bytes)";
    case 2:
      await socket.send(Opcode.Binary, r.bytes(r.int(200)));
      return "binary";
    case 3:
      await socket.send(Opcode.Text, "frag", { fin: false });
      await socket.send(Opcode.Continuation, "ment", { fin: r.next() < 0.7 });
      return "fragmented";
    case 4:
      await socket.send(r.pick([Opcode.Text, Opcode.Binary]), r.bytes(4096 + r.int(20_000)));
      return "oversized";
    case 5:
      await socket.send(Opcode.Ping, r.bytes(r.int(200)));
      return "ping";
    case 6:
      await socket.send(r.pick([3, 4, 5, 6, 7, 11, 12, 15]), r.bytes(r.int(10)));
      return "unknown opcode";
    case 7:
      await socket.send(Opcode.Text, "unmasked", { masked: false });
      return "unmasked";
    case 8:
      await socket.send(Opcode.Text, "rsv", { rsv: 1 + r.int(7) });
      return "reserved bits";
    default:
      await socket.send(Opcode.Close, r.bytes(r.int(6)));
      return "close";
  }
}

Deno.test(`fuzz: random WebSocket frames close only their own connection (seed ${SEED})`, async () => {
  const r = prng(SEED + 2);
  await using server = startServer(Echo, { maxMessageBytes: 4096, shutdownPolicy: "immediate" });
  const port = server.server.addr.port;
  const control = await server.connect("control");
  const kinds = new Map<string, number>();
  const connections = 150;
  let frames = 0;
  for (let i = 0; i < connections; i++) {
    const socket = await RawSocket.connect(port, `/ws/fuzz-${r.int(10)}`);
    for (let j = 0, n = 1 + r.int(6); j < n; j++) {
      try {
        const kind = await randomFrame(r, socket);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        frames++;
      } catch {
        break; // the server already closed this connection
      }
    }
    socket.close();
    if (i % 10 === 0) {
      control.send(`ping ${i}`);
      assert.equal(await control.next(), `ping ${i}`);
    }
  }
  await waitUntil(async () => /^jamsocket_rooms 1$/m.test(await metrics()), "fuzz rooms to close");
  control.send("still answering");
  assert.equal(await control.next(), "still answering");
  await control.close();
  console.log(
    `${connections} connections, ${frames} frames (seed ${SEED}): ${
      [...kinds].sort().map(([k, n]) => `${n}× ${k}`).join(", ")
    }; no room leaked`,
  );

  async function metrics(): Promise<string> {
    return await (await fetch(`${server.http}/metrics`)).text();
  }
});

/** A pointer/length pair that hugs the edges of a guest's memory. */
function hostilePair(r: Random): Uint8Array {
  const edge = () =>
    r.pick([0, 1, 7, 1023, 1024, 65535, 65536, 65537, 131072, 0x7fffffff, 0xffffff00, 0xffffffff]);
  const pair = new DataView(new ArrayBuffer(8 + r.int(8)));
  pair.setUint32(0, r.next() < 0.7 ? edge() : r.int(2 ** 32), true);
  pair.setUint32(
    4,
    r.next() < 0.7 ? r.pick([0, 1, 2, 8, 100, 65536, 0xffffffff]) : r.int(2 ** 32),
    true,
  );
  return new Uint8Array(pair.buffer);
}

Deno.test(`fuzz: random events against a hostile guest crash only its room (seed ${SEED})`, async () => {
  const r = prng(SEED + 3);
  const logger = new CaptureLogger();
  const service = await loadWasmService(await fixture("hostile"), { logger });
  const crashes = new Map<CrashKind, number>();
  let sent = 0;
  let crashed = false;
  const output = {
    send: (_to: number, payload: string | Uint8Array) => {
      assert.ok(payload.length <= 65536 * 16, "a send larger than guest memory");
      sent++;
    },
    closeClient: () => {},
    setTimer: () => {},
    crash: (error: RoomCrashError) => {
      crashes.set(error.kind, (crashes.get(error.kind) ?? 0) + 1);
      crashed = true;
    },
  };
  // Metered, without time slicing: every event runs (and crashes) at once.
  const factory = service.roomFactory({ timeSlice: 0 });
  const open = () => new LocalEngine(`room-${r.int(5)}`, factory, output, logger);
  let engine = open();
  const events = 20_000;
  let rooms = 1;
  for (let i = 0; i < events; i++) {
    const client = 1 + r.int(4);
    switch (r.int(6)) {
      case 0:
        engine.connect(client);
        break;
      case 1:
        engine.disconnect(client);
        break;
      case 2:
        engine.message(client, r.next() < 0.5 ? "short" : "x".repeat(r.int(40)));
        break;
      case 3:
      case 4:
        engine.binary(client, r.next() < 0.8 ? hostilePair(r) : r.bytes(r.int(16)));
        break;
      default:
        engine.timer();
    }
    if (crashed) {
      await engine.close();
      engine = open();
      crashed = false;
      rooms++;
    }
  }
  await engine.close();
  assert.ok(crashes.size > 0 && sent > 0, "the fuzzer never hit both paths");
  for (const kind of crashes.keys()) assert.ok(["invalid_pointer", "trap"].includes(kind), kind);
  assert.deepEqual(logger.lines.filter((line) => /threw/.test(line)), []);
  console.log(
    `${events} events on ${rooms} guest instances (seed ${SEED}): ${sent} sends, ${
      [...crashes].map(([k, n]) => `${n} crashes (${k})`).join(", ")
    }`,
  );
});

Deno.test(`fuzz: hostile pointers through room hosts leave other rooms answering (seed ${SEED})`, async () => {
  const r = prng(SEED + 4);
  await using server = startServer(Echo, { roomHosts: 2, shutdownPolicy: "immediate" });
  await server.server.handler.replaceService(
    await loadWasmService(await fixture("hostile"), { logger: server.logger }),
  );
  const control = await server.connect("control");
  assert.equal(await control.next(), "hello");
  let replies = 0;
  let closes = 0;
  const messages = 300;
  let client = await server.connect(`hostile-${r.int(3)}`);
  await client.next();
  for (let i = 0; i < messages; i++) {
    if (client.socket.readyState !== WebSocket.OPEN) {
      closes++;
      client = await server.connect(`hostile-${r.int(3)}`);
      await client.next();
    }
    client.send(hostilePair(r));
    const answer = await Promise.race([client.next(2000).catch(() => "none"), client.closed]);
    if (!(answer instanceof CloseEvent) && answer !== "none") replies++;
    if (i % 25 === 0) {
      control.send("short");
      assert.equal(await control.next(), "short");
    }
  }
  await client.close();
  await waitUntil(
    async () => /^jamsocket_rooms 1$/m.test(await (await fetch(`${server.http}/metrics`)).text()),
    "rooms to close",
  );
  control.send("fine");
  assert.equal(await control.next(), "fine");
  await control.close();
  console.log(
    `${messages} hostile messages through room hosts (seed ${SEED}): ${replies} answered, ${closes} rooms crashed and restarted; no room leaked`,
  );
});
