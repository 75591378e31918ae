/**
 * A server-side `socket.send()` to a client that does not read: how much it queues (no limit),
 * what `bufferedAmount` says, and what memory the process keeps once the queue has drained.
 *
 * ```sh
 * deno run -A scripts/facts/ws_send_queue.ts [--frames 100000] [--size 1024]
 * ```
 *
 * @module
 */

import { kib, mib, RawClient, serveWebSocket, within } from "./_facts.ts";

const framesIndex = Deno.args.indexOf("--frames");
const FRAMES = framesIndex < 0 ? 100_000 : Number(Deno.args[framesIndex + 1]);
const sizeIndex = Deno.args.indexOf("--size");
const PAYLOAD = "x".repeat(sizeIndex < 0 ? 1024 : Number(Deno.args[sizeIndex + 1]));

const opened = Promise.withResolvers<WebSocket>();
const server = serveWebSocket((socket) => socket.onopen = () => opened.resolve(socket));
const client = await RawClient.open(server.port); // reads nothing until told to
const socket = await within(5000, "the server socket to open", opened.promise);

const before = Deno.memoryUsage().rss;
const start = performance.now();
let thrown = 0;
for (let i = 0; i < FRAMES; i++) {
  try {
    socket.send(PAYLOAD);
  } catch {
    thrown++;
  }
}
const sendMs = performance.now() - start;
const queued = socket.bufferedAmount;
await new Promise((resolve) => setTimeout(resolve, 500)); // the kernel's buffers take some
const grown = Deno.memoryUsage().rss - before;
console.log(
  `${FRAMES} sends of ${PAYLOAD.length} B to a client that does not read: ${thrown} threw, ` +
    `${(sendMs * 1000 / FRAMES).toFixed(2)} µs each; bufferedAmount ${queued} B right after, ` +
    `${socket.bufferedAmount} B 500 ms later; RSS +${mib(grown)}, ` +
    `${kib((grown - FRAMES * PAYLOAD.length) / FRAMES)} per frame beyond its payload`,
);

const drainStart = performance.now();
let received = 0;
while (received < FRAMES && performance.now() - drainStart < 60_000) {
  if ((await client.next()) === undefined) break;
  received++;
}
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(
  `client read ${received} frames in ${(performance.now() - drainStart).toFixed(0)} ms: ` +
    `bufferedAmount ${socket.bufferedAmount} B; RSS still +${
      mib(Deno.memoryUsage().rss - before)
    } (high-water mark)`,
);
await client.close();
await server.close();
