/**
 * How `Deno.upgradeWebSocket` reads `Sec-WebSocket-Protocol`: it splits the offered list on ", "
 * only. The server here always answers with the protocol "b".
 *
 * ```sh
 * deno run -A scripts/facts/ws_protocol.ts
 * ```
 *
 * @module
 */

import { RawClient, serveWebSocket, within } from "./_facts.ts";

let onServerOpen = (_protocol: string) => {};
const server = serveWebSocket((socket) => {
  socket.onopen = () => onServerOpen(socket.protocol);
}, { protocol: "b" });

for (const offered of ["a, b", "a,b"]) {
  const client = await RawClient.open(server.port, { "Sec-WebSocket-Protocol": offered });
  const chosen = client.head.match(/^sec-websocket-protocol: (.*)$/im)?.[1];
  const error = server.errors.shift();
  console.log(
    `raw client offers "${offered}": HTTP ${client.status}, protocol "${chosen ?? ""}"` +
      (error === undefined ? "" : ` (the server threw: ${error})`),
  );
  await client.close();
}

const serverSide = new Promise<string>((resolve) => onServerOpen = resolve);
const socket = new WebSocket(`ws://127.0.0.1:${server.port}/`, ["a", "b"]);
await within(5000, "the client to open", new Promise((resolve) => socket.onopen = resolve));
console.log(
  `Deno's WebSocket client offers ["a", "b"]: client sees protocol "${socket.protocol}", ` +
    `server-side socket.protocol "${await within(5000, "the server side", serverSide)}"`,
);
const closed = new Promise((resolve) => socket.onclose = resolve);
socket.close();
await within(5000, "the client to close", closed);
await server.close();
