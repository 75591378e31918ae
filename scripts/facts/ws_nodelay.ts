/**
 * Deno's `WebSocket` client leaves Nagle's algorithm on: a frame the server does not answer,
 * followed by one it answers, waits for the server's delayed ACK. Measured: the round trip of the
 * second frame, 30 tries each, with Deno's client and with a raw client with `TCP_NODELAY` off
 * and on.
 *
 * ```sh
 * deno run -A scripts/facts/ws_nodelay.ts
 * ```
 *
 * @module
 */

import { Opcode, RawClient, serveWebSocket, within } from "./_facts.ts";

const TRIES = 30;
const encoder = new TextEncoder();

const server = serveWebSocket((socket) => {
  socket.onmessage = (event) => event.data === "answer me" && socket.send("answer");
});

/** Median and maximum of `TRIES` round trips of "unanswered frame, then answered frame". */
async function measure(roundTrip: () => Promise<void>): Promise<string> {
  const times: number[] = [];
  for (let i = 0; i < TRIES; i++) {
    const start = performance.now();
    await within(5000, "an answer", roundTrip());
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const slow = times.filter((ms) => ms > 20).length;
  return `median ${times[TRIES >> 1].toFixed(2)} ms, max ${times[TRIES - 1].toFixed(2)} ms, ` +
    `${slow} of ${TRIES} over 20 ms`;
}

const socket = new WebSocket(`ws://127.0.0.1:${server.port}/`);
await within(5000, "the client to open", new Promise((resolve) => socket.onopen = resolve));
console.log(
  `Deno WebSocket client: ${await measure(() => {
    const answered = new Promise((resolve) => socket.onmessage = resolve);
    socket.send("ignore me");
    socket.send("answer me");
    return answered.then(() => {});
  })}`,
);
const closed = new Promise((resolve) => socket.onclose = resolve);
socket.close();
await within(5000, "the client to close", closed);

for (const noDelay of [false, true]) {
  const client = await RawClient.open(server.port);
  client.conn.setNoDelay(noDelay);
  console.log(
    `raw client, TCP_NODELAY ${noDelay ? "on" : "off"}: ${await measure(async () => {
      await client.send(Opcode.Text, encoder.encode("ignore me"));
      await client.send(Opcode.Text, encoder.encode("answer me"));
      await client.next();
    })}`,
  );
  await client.close();
}
await server.close();
