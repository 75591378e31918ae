/**
 * RFC 6455 on the front (`http/websocket.ts`): the message size bound across fragments, the
 * protocol errors answered with a close frame (1002, 1007), the close handshake, heartbeats, and
 * the part of the `WebSocket` API a room uses. Raw clients send what browsers never do.
 */

import assert from "node:assert/strict";
import { type FrontOptions, serveHttp } from "../http/http_server.ts";
import { type UpgradeOptions, upgradeWebSocket } from "../http/upgrade.ts";
import { createHandler } from "../server.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { encodeFrame, Opcode, RawSocket } from "./_raw_socket.ts";
import { CaptureLogger, startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";

/** The close frame the server sends (code and reason), or undefined if the connection ends. */
async function closeOf(
  socket: RawSocket,
  ms = 5000,
): Promise<{ code: number; reason: string } | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const frame = await socket.next(deadline - Date.now());
    if (frame === undefined) return undefined;
    if (frame.opcode !== Opcode.Close) continue;
    const view = new DataView(frame.payload.buffer, frame.payload.byteOffset);
    return {
      code: view.getUint16(0),
      reason: new TextDecoder().decode(frame.payload.subarray(2)),
    };
  }
  throw new Error("timed out waiting for a close frame");
}

/** The next data frame (skipping pings), as text. */
async function nextText(socket: RawSocket): Promise<string> {
  while (true) {
    const frame = await socket.next();
    if (frame === undefined) throw new Error("the connection ended");
    if (frame.opcode === Opcode.Ping || frame.opcode === Opcode.Pong) continue;
    return new TextDecoder().decode(frame.payload);
  }
}

/** An echo server on the front alone, with every socket it made. */
function echoFront(options: UpgradeOptions & FrontOptions = {}) {
  const sockets: WebSocket[] = [];
  const logger = new CaptureLogger();
  const server = serveHttp((request) => {
    const { socket, response } = upgradeWebSocket(request, { idleTimeout: 0, ...options });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    sockets.push(socket);
    return response;
  }, { hostname: "127.0.0.1", port: 0, logger, ...options });
  return {
    server,
    sockets,
    logger,
    port: server.addr.port,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("a fragmented message whose FIN never comes is closed with 1009 past maxMessageBytes, its buffer freed", async () => {
  await using front = echoFront({ maxMessageBytes: 64 * 1024 });
  const socket = await RawSocket.connect(front.port, "/");
  const chunk = new Uint8Array(16 * 1024);
  await socket.send(Opcode.Binary, chunk, { fin: false });
  for (let i = 1; i < 64; i++) await socket.send(Opcode.Continuation, chunk, { fin: false });
  assert.deepEqual(await closeOf(socket), {
    code: 1009,
    reason: "Message of at least 81920 bytes is over the limit of 65536",
  });
  await socket.send(Opcode.Close, new Uint8Array([0x03, 0xe8]));
  assert.equal(await socket.next(), undefined);
  const stats = front.server.stats();
  assert.equal(stats.inputBytes, 0);
  // At most the message so far and the read buffer grown for a burst (16 KiB).
  assert.ok(stats.inputPeak <= 80 * 1024, `buffered up to ${stats.inputPeak} bytes`);
  socket.close();
});

Deno.test("a message in 200,000 one-byte fragments is gathered in one buffer, not 200,000 objects", async () => {
  await using front = echoFront();
  const socket = await RawSocket.connect(front.port, "/");
  const fragments = 200_000;
  const heapBefore = Deno.memoryUsage().heapUsed;
  await socket.send(Opcode.Binary, new Uint8Array([0]), { fin: false });
  for (let sent = 1; sent < fragments; sent += 10_000) {
    const count = Math.min(10_000, fragments - sent);
    const batch = new Uint8Array(count * 7); // 2 + 4 (mask) + 1 bytes a fragment
    for (let i = 0; i < count; i++) {
      batch.set(
        encodeFrame(Opcode.Continuation, new Uint8Array([(sent + i) & 0xff]), { fin: false }),
        i * 7,
      );
    }
    await socket.writeRaw(batch);
  }
  await waitUntil(() => front.server.stats().inputBytes >= fragments, "every fragment read");
  // Held as a list, each fragment took about 480 bytes of heap (96 MB here).
  const grown = Deno.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 24 * 1024 * 1024, `the heap grew by ${grown} bytes`);
  await socket.send(Opcode.Continuation, new Uint8Array([fragments & 0xff]));
  const echo = await socket.next();
  assert.equal(echo?.opcode, Opcode.Binary);
  assert.equal(echo!.payload.length, fragments + 1);
  assert.ok(echo!.payload.every((byte, i) => byte === (i & 0xff)));
  // The echo can go out before the read loop gives its burst buffer back (on a loaded machine).
  await waitUntil(() => front.server.stats().inputBytes === 0, "the input budget given back");
  socket.close();
});

Deno.test("through serve(): fragments past maxMessageBytes close with 1009, counted; the room goes on", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), { maxMessageBytes: 100 });
  const calm = await server.connect("r");
  const socket = await RawSocket.connect(server.server.addr.port, "/ws/r");
  for (let i = 0; i < 10; i++) {
    await socket.send(i === 0 ? Opcode.Text : Opcode.Continuation, "x".repeat(40), { fin: false });
  }
  assert.deepEqual(await closeOf(socket), {
    code: 1009,
    reason: "Message of at least 120 bytes is over the limit of 100",
  });
  await waitUntil(() => events.includes("disconnect 2"), "disconnect 2");
  calm.send("still here");
  assert.equal(await calm.next(), "still here");
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_clients_closed_total\{reason="too_big"\} 1$/m);
  socket.close();
  await calm.close();
});

Deno.test("a frame that announces more than maxMessageBytes is closed with 1009 from its header alone", async () => {
  await using front = echoFront({ maxMessageBytes: 1024 * 1024 });
  // 24 clients announce a 60 MiB frame each and send only its first 64 KiB.
  const sockets = await Promise.all(
    Array.from({ length: 24 }, () => RawSocket.connect(front.port, "/")),
  );
  const header = new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0x03, 0xc0, 0, 0, 0, 0, 0, 0]);
  for (const socket of sockets) await socket.writeRaw(header);
  for (const socket of sockets) {
    await socket.writeRaw(new Uint8Array(64 * 1024)).catch(() => {});
    assert.deepEqual(await closeOf(socket), {
      code: 1009,
      reason: "Message of 62914560 bytes is over the limit of 1048576",
    });
    socket.close();
  }
  assert.ok(front.server.stats().inputPeak < 1024 * 1024);
});

/** What a client sends, and the close the server must answer with. */
const VIOLATIONS: [string, (socket: RawSocket) => Promise<void>, number, RegExp][] = [
  ["an unmasked frame", (s) => s.send(Opcode.Text, "hi", { masked: false }), 1002, /masked/],
  ["reserved bits", (s) => s.send(Opcode.Text, "hi", { rsv: 4 }), 1002, /Reserved bits/],
  ["invalid UTF-8", (s) => s.send(Opcode.Text, new Uint8Array([0xc3, 0x28])), 1007, /UTF-8/],
  ["an overlong encoding", (s) => s.send(Opcode.Text, new Uint8Array([0xc0, 0xaf])), 1007, /UTF/],
  ["a lone surrogate", (s) => s.send(Opcode.Text, new Uint8Array([0xed, 0xa0, 0x80])), 1007, /UTF/],
  [
    "invalid UTF-8 across fragments",
    async (s) => {
      await s.send(Opcode.Text, "ok ", { fin: false });
      await s.send(Opcode.Continuation, new Uint8Array([0xff]));
    },
    1007,
    /UTF-8/,
  ],
  ["a 126-byte ping", (s) => s.send(Opcode.Ping, new Uint8Array(126)), 1002, /over 125/],
  ["a fragmented ping", (s) => s.send(Opcode.Ping, "x", { fin: false }), 1002, /fragmented/],
  ["opcode 3", (s) => s.send(3, "x"), 1002, /Unknown opcode 3/],
  ["opcode 11", (s) => s.send(11, "x"), 1002, /Unknown opcode 11/],
  ["a lone continuation", (s) => s.send(Opcode.Continuation, "x"), 1002, /without a message/],
  [
    "a new message inside a fragmented one",
    async (s) => {
      await s.send(Opcode.Text, "a", { fin: false });
      await s.send(Opcode.Text, "b");
    },
    1002,
    /before the fragmented one ended/,
  ],
  ["a 1-byte close", (s) => s.send(Opcode.Close, new Uint8Array([3])), 1002, /1-byte/],
  ["close code 1005", (s) => s.send(Opcode.Close, new Uint8Array([3, 0xed])), 1002, /1005/],
  ["close code 999", (s) => s.send(Opcode.Close, new Uint8Array([3, 0xe7])), 1002, /999/],
  ["close code 5000", (s) => s.send(Opcode.Close, new Uint8Array([0x13, 0x88])), 1002, /5000/],
  [
    "a close reason that is not UTF-8",
    (s) => s.send(Opcode.Close, new Uint8Array([3, 0xe8, 0xff])),
    1007,
    /Close reason/,
  ],
  [
    "a 64-bit length with its top bit set",
    (s) => s.writeRaw(new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])),
    1002,
    /most significant bit/,
  ],
];

Deno.test("protocol violations are answered with a close frame: 1002 or 1007 as RFC 6455 says", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), { shutdownPolicy: "never" });
  const port = server.server.addr.port;
  const control = await server.connect("control");
  for (const [what, send, code, reason] of VIOLATIONS) {
    const socket = await RawSocket.connect(port, "/ws/lax");
    await send(socket);
    const close = await closeOf(socket);
    assert.equal(close?.code, code, `${what}: ${JSON.stringify(close)}`);
    assert.match(close!.reason, reason, what);
    socket.close();
  }
  await waitUntil(
    () => events.filter((e) => e.startsWith("disconnect")).length === VIOLATIONS.length,
    "every violator to leave",
  );
  control.send("still answering");
  assert.equal(await control.next(), "still answering");
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_clients_closed_total\{reason="protocol"\} 13$/m);
  assert.match(metrics, /^jamsocket_clients_closed_total\{reason="invalid_utf8"\} 5$/m);
  await control.close();
});

Deno.test("valid traffic: UTF-8 split across fragments, pings inside a message, empty and 64-bit frames", async () => {
  await using front = echoFront();
  const socket = await RawSocket.connect(front.port, "/");
  await socket.send(Opcode.Text, new Uint8Array([0x68, 0xc3]), { fin: false });
  await socket.send(Opcode.Ping, "in between");
  await socket.send(Opcode.Continuation, new Uint8Array([0xa9]));
  const pong = await socket.next();
  assert.equal(pong?.opcode, Opcode.Pong);
  assert.equal(new TextDecoder().decode(pong!.payload), "in between");
  assert.equal(await nextText(socket), "hé");
  await socket.send(Opcode.Text, "");
  assert.equal(await nextText(socket), "");
  const big = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
  await socket.send(Opcode.Binary, big);
  const echoed = await socket.next();
  assert.equal(echoed?.opcode, Opcode.Binary);
  assert.deepEqual(echoed?.payload, big);
  await socket.send(Opcode.Close, new Uint8Array([0x03, 0xe8, ...new TextEncoder().encode("bye")]));
  assert.deepEqual(await closeOf(socket), { code: 1000, reason: "bye" });
  assert.equal(await socket.next(), undefined, "the server closes the TCP connection");
  socket.close();
});

Deno.test("a client that floods pings and reads nothing queues at most 64 KiB of pongs; its latest ping is answered", async () => {
  await using front = echoFront();
  const socket = await RawSocket.connect(front.port, "/");
  // 200,000 pings (26 MB, far more than the kernel's socket buffers hold), 1,000 a write.
  const pings = 200_000;
  let done = false;
  for (let sent = 0; sent < pings; sent += 1000) {
    const batch = new Uint8Array(1000 * 131); // 2 + 4 (mask) + 125 bytes a ping
    for (let i = 0; i < 1000; i++) {
      const payload = new TextEncoder().encode(`ping ${sent + i}`.padEnd(125));
      batch.set(encodeFrame(Opcode.Ping, payload), i * 131);
    }
    await socket.writeRaw(batch);
    if (sent === 0) front.sockets[0].addEventListener("message", () => done = true);
  }
  await socket.send(Opcode.Text, "done");
  await waitUntil(() => done, "the server to read every ping", 20_000);
  const peak = front.server.stats().outputPeak;
  assert.ok(peak <= 64 * 1024 + 256, `${peak} bytes of pongs queued`);
  // Reading now: what the kernel held, the echo, and then the latest ping's pong.
  let pongs = 0;
  let last = "";
  while (!last.startsWith(`ping ${pings - 1} `)) {
    const frame = await socket.next();
    if (frame === undefined) throw new Error("the connection ended");
    if (frame.opcode !== Opcode.Pong) continue;
    pongs++;
    last = new TextDecoder().decode(frame.payload);
  }
  assert.ok(pongs < pings / 2, `${pongs} pongs for ${pings} pings`);
  socket.close();
});

Deno.test("a client that keeps sending after the server's close frame still gets that close frame", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), { maxMessagesPerSecond: 4 });
  const socket = await RawSocket.connect(server.server.addr.port, "/ws/flood");
  for (let i = 0; i < 50; i++) await socket.send(Opcode.Text, `f${i}`);
  assert.deepEqual(await closeOf(socket), {
    code: 1008,
    reason: "Over the limit of 4 messages per second",
  });
  socket.close();
});

Deno.test("a client that never answers the server's close frame is cut after closeTimeout", async () => {
  await using server = startServer(recordingEcho(), {
    maxMessagesPerSecond: 1,
    closeTimeout: 0.3,
  });
  const socket = await RawSocket.connect(server.server.addr.port, "/ws/mute");
  await socket.send(Opcode.Text, "one");
  await socket.send(Opcode.Text, "two");
  assert.equal((await closeOf(socket))?.code, 1008);
  const closedAt = Date.now();
  assert.equal(await socket.next(5000), undefined);
  const waited = Date.now() - closedAt;
  assert.ok(waited >= 200 && waited < 4000, `cut after ${waited} ms`);
  socket.close();
});

Deno.test("after a clean close handshake the server sends its FIN at once, and cuts a client that keeps its end open at closeTimeout", async () => {
  const closes: string[] = [];
  const front = serveHttp((request) => {
    const { socket, response } = upgradeWebSocket(request, { idleTimeout: 0 });
    socket.onclose = (event) => closes.push(`${new URL(request.url).pathname} ${event.code}`);
    return response;
  }, { hostname: "127.0.0.1", port: 0, closeTimeout: 0.3 });
  // A client that closes properly: its close is answered and the server's end follows at once.
  const polite = await RawSocket.connect(front.addr.port, "/polite");
  await polite.send(Opcode.Close, new Uint8Array([0x03, 0xe8]));
  assert.equal(await polite.closeCode(), 1000);
  const answeredAt = Date.now();
  assert.equal(await polite.next(5000), undefined, "the server's FIN");
  assert.ok(Date.now() - answeredAt < 200, `FIN ${Date.now() - answeredAt} ms after the close`);
  polite.close();
  await waitUntil(() => front.stats().connections === 0, "the polite connection closed");
  // A client that never closes its end: the socket is closed for the service at once, the TCP
  // connection counts as open until the close timeout cuts it.
  const stubborn = await RawSocket.connect(front.addr.port, "/stubborn");
  await stubborn.send(Opcode.Close, new Uint8Array([0x03, 0xe8]));
  assert.equal(await stubborn.closeCode(), 1000);
  assert.equal(await stubborn.next(5000), undefined, "the FIN");
  const finAt = Date.now();
  assert.deepEqual(closes, ["/polite 1000", "/stubborn 1000"]);
  assert.equal(front.stats().connections, 1);
  await waitUntil(() => front.stats().connections === 0, "the stubborn connection cut", 5000);
  const held = Date.now() - finAt;
  assert.ok(held >= 150 && held < 4000, `cut ${held} ms after the FIN`);
  stubborn.close();
  await front.shutdown();
});

Deno.test("heartbeat: a silent client is pinged at idleTimeout/2, closed with 1001 at idleTimeout, close fires once", async () => {
  const closes: number[] = [];
  const server = serveHttp((request) => {
    const { socket, response } = upgradeWebSocket(request, { idleTimeout: 0.4 });
    socket.onclose = (event) => closes.push(event.code);
    return response;
  }, { hostname: "127.0.0.1", port: 0 });
  const silent = await RawSocket.connect(server.addr.port, "/");
  const started = Date.now();
  const ping = await silent.next();
  assert.equal(ping?.opcode, Opcode.Ping);
  const pingedAfter = Date.now() - started;
  assert.ok(pingedAfter >= 150, `pinged after ${pingedAfter} ms`);
  assert.deepEqual(await closeOf(silent), { code: 1001, reason: "No response from ping frame." });
  const closedAfter = Date.now() - started;
  assert.ok(closedAfter >= 350, `closed after ${closedAfter} ms`);
  await waitUntil(() => closes.length > 0, "close");
  assert.equal(await silent.next(), undefined);
  assert.deepEqual(closes, [1001]);
  silent.close();
  await server.shutdown();
});

Deno.test("heartbeat: any frame from the client postpones the ping", async () => {
  await using front = echoFront({ idleTimeout: 0.4 });
  const socket = await RawSocket.connect(front.port, "/");
  for (let i = 0; i < 8; i++) {
    await socket.send(Opcode.Text, `m${i}`);
    const frame = await socket.next();
    assert.equal(frame?.opcode, Opcode.Text, `a ${frame?.opcode} frame instead of an echo`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  socket.close();
});

Deno.test("the socket has the WebSocket API a room uses: states, once listeners, bufferedAmount, close", async () => {
  const seen: string[] = [];
  let server: WebSocket | undefined;
  const front = serveHttp((request) => {
    const { socket, response } = upgradeWebSocket(request, { idleTimeout: 0 });
    server = socket;
    seen.push(`state ${socket.readyState}`);
    assert.throws(() => socket.send("too early"), DOMException);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => seen.push(`open ${socket.readyState}`), { once: true });
    socket.onmessage = (event) => {
      seen.push(event.data instanceof ArrayBuffer ? `bytes ${event.data.byteLength}` : event.data);
    };
    socket.onclose = (event) => seen.push(`close ${event.code} ${event.reason}`);
    return response;
  }, { hostname: "127.0.0.1", port: 0 });
  const reader = await RawSocket.connect(front.addr.port, "/");
  await waitUntil(() => seen.includes("open 1"), "open");
  await reader.send(Opcode.Binary, new Uint8Array(3));
  await reader.send(Opcode.Text, "hi");
  await waitUntil(() => seen.includes("hi"), "the messages");
  // The reader does not read: what does not fit in the kernel's buffers stays queued.
  const chunk = new Uint8Array(1024 * 1024);
  for (let i = 0; i < 16; i++) server!.send(chunk);
  assert.ok(server!.bufferedAmount > 0);
  let drained = 0;
  while (drained < 16) if ((await reader.next())?.opcode === Opcode.Binary) drained++;
  await waitUntil(() => server!.bufferedAmount === 0, "the queue to drain");
  server!.close(4000, "bye");
  assert.equal(server!.readyState, WebSocket.CLOSING);
  assert.deepEqual(await closeOf(reader), { code: 4000, reason: "bye" });
  await reader.send(Opcode.Close, new Uint8Array([0x0f, 0xa0]));
  await waitUntil(() => server!.readyState === WebSocket.CLOSED, "closed");
  assert.deepEqual(seen, ["state 0", "open 1", "bytes 3", "hi", "close 4000 "]);
  reader.close();
  await front.shutdown();
});

Deno.test("createHandler() mounted in a bare Deno.serve still upgrades, on Deno's own WebSocket", async () => {
  const handler = createHandler(recordingEcho(), { logger: new CaptureLogger() });
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const client = await TestClient.open(`ws://127.0.0.1:${server.addr.port}/ws/foreign`);
  client.send("through Deno.serve");
  assert.equal(await client.next(), "through Deno.serve");
  await client.close();
  await handler.shutdown();
});
