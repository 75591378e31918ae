import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import { waitUntil } from "./_client.ts";
import { startCli } from "./_cli.ts";
import { flood } from "./_flood.ts";
import { RawSocket } from "./_raw_socket.ts";
import { startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";

Deno.test("a frame over maxMessageBytes closes that client with 1009; the room goes on", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), { maxMessageBytes: 100 });
  const calm = await server.connect("r");
  const big = await server.connect("r");
  big.send("é".repeat(50));
  assert.equal(await big.next(), "é".repeat(50));
  big.send("é".repeat(51));
  const event = await big.waitClosed();
  assert.equal(event.code, CloseCode.MessageTooBig);
  assert.equal(event.reason, "Message of 102 bytes is over the limit of 100");
  const bytes = await server.connect("r");
  bytes.send(new Uint8Array(101));
  assert.equal((await bytes.waitClosed()).code, CloseCode.MessageTooBig);
  calm.send("still here");
  assert.equal(await calm.next(), "still here");
  await waitUntil(() => events.includes("disconnect 3"), "disconnect 3");
  assert.deepEqual(events.filter((e) => e.startsWith("disconnect")), [
    "disconnect 2",
    "disconnect 3",
  ]);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_clients_closed_total\{reason="too_big"\} 2$/m);
  await calm.close();
});

Deno.test("a client over maxMessagesPerSecond is closed with 1008; a slower one is not", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), { maxMessagesPerSecond: 4 });
  const slow = await server.connect("r");
  const fast = await server.connect("r");
  for (let i = 0; i < 4; i++) fast.send(`m${i}`);
  for (let i = 0; i < 4; i++) assert.equal(await fast.next(), `m${i}`);
  fast.send("one too many");
  const event = await fast.waitClosed();
  assert.equal(event.code, CloseCode.PolicyViolation);
  assert.equal(event.reason, "Over the limit of 4 messages per second");
  assert.deepEqual(fast.buffered, []);
  await waitUntil(() => events.includes("disconnect 2"), "disconnect 2");

  // A client that keeps sending after the close frame: Deno 2.9 drops such a connection without
  // delivering the close frame (the client sees code 0/1006, not 1008); the server side is the same.
  const flood = await server.connect("r");
  for (let i = 0; i < 50; i++) flood.send(`f${i}`);
  await flood.waitClosed();
  await waitUntil(() => events.includes("disconnect 3"), "disconnect 3");

  for (let i = 0; i < 4; i++) {
    slow.send(`s${i}`);
    assert.equal(await slow.next(), `s${i}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  assert.equal(slow.socket.readyState, WebSocket.OPEN);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_clients_closed_total\{reason="rate_limit"\} 2$/m);
  await slow.close();
});

Deno.test("a client that stops reading is closed with 1008 and the server's memory stays bounded", async () => {
  const cli = await startCli([
    "serve",
    new URL("./fixtures/flood_service.ts", import.meta.url).pathname,
    "--max-buffered-bytes",
    String(1024 * 1024),
  ]);
  try {
    const stalled = await RawSocket.connect(cli.port, "/ws/flood");
    // 3000 × 16 KiB = 47 MiB towards the client that does not read
    const { growthMiB, reader } = await flood(cli, 3000);
    assert.ok(growthMiB < 24, `server memory grew by ${growthMiB.toFixed(1)} MiB`);
    assert.equal(await stalled.closeCode(10_000), CloseCode.PolicyViolation);
    const metrics = await (await fetch(`http://127.0.0.1:${cli.port}/metrics`)).text();
    assert.match(metrics, /^jamsocket_clients_closed_total\{reason="too_slow"\} 1$/m);
    stalled.close();
    await reader.close();
  } finally {
    assert.equal((await cli.stop()).code, 0);
  }
});

Deno.test("a room whose hook is busy holds at most 16 MiB of messages: past it, the sender gets 1013", async () => {
  let release: (() => void) | undefined;
  const handled: number[] = [];
  class Slow {
    async message(_client: number, text: string) {
      if (text === "wait") await new Promise<void>((resolve) => release = resolve);
      handled.push(text.length);
    }
  }
  await using server = startServer(Slow);
  const busy = await server.connect("busy");
  const elsewhere = await server.connect("elsewhere");
  busy.send("wait");
  await waitUntil(() => release !== undefined, "the hook to start waiting");
  // 400 messages of 60 KB (24 MB) while the hook waits: 16 MiB are held, then 1013.
  const text = "x".repeat(60_000);
  for (let i = 0; i < 400; i++) busy.send(text);
  const event = await busy.waitClosed();
  assert.equal(event.code, CloseCode.TryAgainLater);
  assert.match(event.reason, /^Room is busy: \d+ bytes of messages wait for it; try again later$/);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_clients_closed_total\{reason="room_busy"\} 1$/m);
  // The room goes on with what it held, and other rooms never waited.
  elsewhere.send("hi");
  release!();
  await waitUntil(() => handled.length > 1, "the held messages to run");
  assert.ok(handled.filter((n) => n === 60_000).length * 60_000 <= 16 * 1024 * 1024);
  await elsewhere.close();
});
