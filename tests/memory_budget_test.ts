/**
 * The front's server-wide memory budgets, beyond the per-client limits: input (messages still
 * arriving) and output (frames queued for clients). Each test pushes past a budget and checks
 * what the server holds, what the clients over it see, and that the others are served.
 */

import assert from "node:assert/strict";
import { serveHttp } from "../http/http_server.ts";
import { upgradeWebSocket } from "../http/upgrade.ts";
import { CloseCode } from "../room/close_code.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { startCli } from "./_cli.ts";
import { flood } from "./_flood.ts";
import { Opcode, RawSocket } from "./_raw_socket.ts";

const MiB = 1024 * 1024;

/** The close frame's code and reason, or undefined if the connection ends first. */
async function closeOf(socket: RawSocket): Promise<{ code: number; reason: string } | undefined> {
  while (true) {
    const frame = await socket.next(10_000);
    if (frame === undefined) return undefined;
    if (frame.opcode !== Opcode.Close) continue;
    return {
      code: new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint16(0),
      reason: new TextDecoder().decode(frame.payload.subarray(2)),
    };
  }
}

Deno.test("input budget: messages that would pass it close their clients with 1013; the rest go through", async () => {
  const received: number[] = [];
  const server = serveHttp((request) => {
    const { socket, response } = upgradeWebSocket(request, {
      idleTimeout: 0,
      maxMessageBytes: 2 * MiB,
    });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      received.push((event.data as ArrayBuffer).byteLength);
      socket.send("got it");
    };
    return response;
  }, { hostname: "127.0.0.1", port: 0, inputBudget: 4 * MiB });
  const port = server.addr.port;
  // Six clients start a 1 MiB message each at once; the budget holds four.
  const sockets = await Promise.all(Array.from({ length: 6 }, () => RawSocket.connect(port, "/")));
  const header = new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0]);
  for (const [i, socket] of sockets.entries()) {
    await socket.writeRaw(header);
    await socket.writeRaw(new Uint8Array(16 * 1024));
    if (i < 4) await waitUntil(() => server.stats().inputBytes === (i + 1) * MiB, `message ${i}`);
  }
  const [accepted, refused] = [sockets.slice(0, 4), sockets.slice(4)];
  for (const socket of refused) {
    const close = await closeOf(socket);
    assert.equal(close?.code, 1013);
    assert.match(close!.reason, /^Server input budget spent; a message of 1048576 bytes cannot/);
  }
  assert.equal(server.stats().inputPeak, 4 * MiB);
  for (const socket of accepted) await socket.writeRaw(new Uint8Array(MiB - 16 * 1024));
  for (const socket of accepted) {
    assert.equal(new TextDecoder().decode((await socket.next())?.payload), "got it");
  }
  assert.deepEqual(received, [MiB, MiB, MiB, MiB]);
  assert.equal(server.stats().inputBytes, 0);
  // With the budget free again, a new client's message goes through.
  const later = await RawSocket.connect(port, "/");
  await later.send(Opcode.Binary, new Uint8Array(MiB));
  assert.equal(new TextDecoder().decode((await later.next())?.payload), "got it");
  for (const socket of [...sockets, later]) socket.close();
  await server.shutdown();
});

Deno.test("output budget: past it the slowest readers are shed with 1008; a reader that keeps up loses nothing", async () => {
  const sockets = new Set<WebSocket>();
  const closes: { code: number; reason: string }[] = [];
  const server = serveHttp((request) => {
    const { socket, response } = upgradeWebSocket(request, { idleTimeout: 0 });
    socket.onopen = () => sockets.add(socket);
    socket.onclose = (event) => {
      sockets.delete(socket);
      closes.push({ code: event.code, reason: event.reason });
    };
    return response;
  }, { hostname: "127.0.0.1", port: 0, outputBudget: 4 * MiB });
  const port = server.addr.port;
  const stalled = await Promise.all(Array.from({ length: 10 }, () => RawSocket.connect(port, "/")));
  const reader = await TestClient.open(`ws://127.0.0.1:${port}/reader`);
  await waitUntil(() => sockets.size === 11, "every socket to open");
  // 64 KiB to everyone every 2 ms, 300 times: 19 MiB towards each client.
  const chunk = new Uint8Array(64 * 1024);
  let received = 0;
  reader.socket.onmessage = () => received++;
  for (let tick = 0; tick < 300; tick++) {
    for (const socket of sockets) socket.send(chunk);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await waitUntil(() => received === 300, "the reader to get every message", 10_000);
  const shed = closes.filter((close) => close.code === 1008);
  assert.equal(shed.length, 10, JSON.stringify(closes));
  assert.match(
    shed[0].reason,
    /^Server output budget of 4194304 bytes spent; this client reads slowest$/,
  );
  const { outputPeak } = server.stats();
  assert.ok(outputPeak <= 8 * MiB + 11 * chunk.length, `queued up to ${outputPeak} bytes`);
  await waitUntil(() => server.stats().outputBytes === 0, "the queues to be freed", 10_000);
  for (const socket of stalled) socket.close();
  await reader.close();
  await server.shutdown();
});

Deno.test("output budget through the CLI: 30 clients that stop reading leave the server's memory bounded", async () => {
  const cli = await startCli([
    "serve",
    new URL("./fixtures/flood_service.ts", import.meta.url).pathname,
    "--output-budget",
    String(8 * MiB),
  ]);
  try {
    const stalled = await Promise.all(
      Array.from({ length: 30 }, () => RawSocket.connect(cli.port, "/ws/flood")),
    );
    // 1500 × 16 KiB = 23 MiB towards each of 30 clients that do not read
    const { growthMiB, reader } = await flood(cli, 1500);
    assert.ok(growthMiB < 48, `server memory grew by ${growthMiB.toFixed(1)} MiB`);
    const metrics = await (await fetch(`http://127.0.0.1:${cli.port}/metrics`)).text();
    const shed = Number(
      /^jamsocket_clients_closed_total\{reason="output_budget"\} (\d+)$/m.exec(metrics)?.[1] ?? 0,
    );
    const slow = Number(
      /^jamsocket_clients_closed_total\{reason="too_slow"\} (\d+)$/m.exec(metrics)?.[1] ?? 0,
    );
    assert.ok(shed > 0, metrics);
    assert.ok(shed + slow >= 30, `${shed} shed, ${slow} too slow`);
    for (const socket of stalled) {
      const close = await closeOf(socket);
      if (close !== undefined) assert.equal(close.code, CloseCode.PolicyViolation);
      socket.close();
    }
    await reader.close();
  } finally {
    assert.equal((await cli.stop()).code, 0);
  }
});
