/**
 * `Deno.upgradeWebSocket`'s `idleTimeout` is a heartbeat: when the server sees nothing for half of
 * it, it pings; a client that does not answer by the full timeout gets `error` and `close` events
 * (twice). Three raw clients for 2 × `idleTimeout` (2 s): one silent that ignores pings, one
 * silent that answers them, one that sends a text every 250 ms.
 *
 * ```sh
 * deno run -A scripts/facts/ws_heartbeat.ts
 * ```
 *
 * @module
 */

import { describeFrame, Opcode, RawClient, serveWebSocket, within } from "./_facts.ts";

const IDLE_TIMEOUT_S = 2;
const RUN_MS = 2 * IDLE_TIMEOUT_S * 1000 + 500;

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(2)} s`;
const serverEvents: string[][] = [];
const server = serveWebSocket((socket) => {
  const events: string[] = [];
  serverEvents.push(events);
  socket.onerror = (event) =>
    events.push(`error "${(event as ErrorEvent).message}" at ${elapsed()}`);
  socket.onclose = (event) => events.push(`close ${event.code} at ${elapsed()}`);
}, { idleTimeout: IDLE_TIMEOUT_S });

/** Read frames until the connection ends or the run is over; note when pings come. */
async function drive(client: RawClient, answerPings: boolean): Promise<string[]> {
  const seen: string[] = [];
  while (true) {
    const frame = await client.next();
    if (frame === undefined) return [...seen, `${describeFrame(frame)} at ${elapsed()}`];
    if (frame.opcode === Opcode.Ping) {
      seen.push(`ping at ${elapsed()}`);
      if (answerPings) await client.send(Opcode.Pong, frame.payload);
    }
    if (frame.opcode === Opcode.Close) seen.push(`${describeFrame(frame)} at ${elapsed()}`);
  }
}

const clients = [
  await RawClient.open(server.port),
  await RawClient.open(server.port),
  await RawClient.open(server.port),
];
const chatter = setInterval(
  () => void clients[2].send(Opcode.Text, new TextEncoder().encode("hi")),
  250,
);
const seen = clients.map((client, i) => drive(client, i === 1));
await new Promise((resolve) => setTimeout(resolve, RUN_MS));
clearInterval(chatter);
for (const client of clients.slice(1)) await client.send(Opcode.Close, new Uint8Array([3, 0xe8]));
const [silent, answering, talking] = await within(5000, "the closes", Promise.all(seen));
for (const client of clients) client.drop();

console.log(`idleTimeout ${IDLE_TIMEOUT_S} s, watched ${RUN_MS / 1000} s`);
console.log(`silent, ignores pings: ${silent.join(", ")}; server: ${serverEvents[0].join(", ")}`);
console.log(
  `silent, answers pings: ${answering.join(", ")}; server: ${serverEvents[1].join(", ")}`,
);
console.log(`sends every 250 ms: ${talking.join(", ")}; server: ${serverEvents[2].join(", ")}`);
await server.close();
