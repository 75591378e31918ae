/**
 * `close()` on a server-side socket that is still CONNECTING (called in the request handler,
 * before the 101 is returned) is lost: the client opens and hears nothing. Closing on `open`
 * works. Each client waits 1 s for a close frame.
 *
 * ```sh
 * deno run -A scripts/facts/ws_close_connecting.ts
 * ```
 *
 * @module
 */

import { describeFrame, RawClient, serveWebSocket, within } from "./_facts.ts";

const WAIT_MS = 1000;
const STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];

for (const when of ["connecting", "open"]) {
  let state = "";
  let thrown = "nothing";
  let serverSocket: WebSocket | undefined;
  const server = serveWebSocket((socket) => {
    serverSocket = socket;
    const close = () => {
      state = STATES[socket.readyState];
      try {
        socket.close(4000, "bye");
      } catch (error) {
        thrown = String(error);
      }
    };
    if (when === "connecting") close();
    else socket.onopen = close;
  });
  const client = await RawClient.open(server.port);
  const frame = await within(WAIT_MS, "a frame", client.next()).then(describeFrame, () => "none");
  const heard = frame === "none" ? `no frame in ${WAIT_MS} ms, connection still open` : frame;
  console.log(
    `close(4000) on ${when} (readyState ${state}, threw ${thrown}): ` +
      `client: HTTP ${client.status}, ${heard}; server socket then ${
        STATES[serverSocket?.readyState ?? 3]
      }`,
  );
  client.drop();
  await server.close();
}
