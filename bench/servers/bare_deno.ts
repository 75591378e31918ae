/**
 * Baseline 1: the shared counter on a bare `Deno.serve` + `Deno.upgradeWebSocket`, with no
 * framework in between — the practical ceiling for a Deno WebSocket server.
 *
 * Same wire behaviour as `examples/counter.ts` under `jamsocket serve --shutdown-policy immediate`:
 * `GET /status` answers `ok`; `GET /ws/{room}` joins the room; `increment` / `decrement` change
 * the room's counter and every text frame broadcasts `new value: N` to the room; a room is
 * forgotten when its last client leaves.
 *
 * ```sh
 * deno run -A bench/servers/bare_deno.ts --port 9001 [--idle-timeout 60]
 * ```
 *
 * `--idle-timeout` is `upgradeWebSocket`'s heartbeat (seconds, 0 = off); the runner passes the
 * same value `jamsocket serve` derives from its heartbeat flags, so both do the same work.
 *
 * @module
 */

import { exitOnSignals, join, rooms, serverArgs } from "./_counter.ts";

const { port, hostname, idleTimeout } = serverArgs();
Deno.serve({
  port,
  hostname,
  onListen: ({ hostname, port }) =>
    console.log(`bare deno listening on http://${hostname}:${port}`),
}, (request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/status") return new Response("ok");
  if (
    pathname.startsWith("/ws/") &&
    request.headers.get("upgrade") === "websocket"
  ) {
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout,
    });
    join(decodeURIComponent(pathname.slice(4)), socket);
    return response;
  }
  if (pathname === "/metrics") {
    return new Response(`jamsocket_rooms ${rooms.size}\n`);
  }
  return new Response("Not found", { status: 404 });
});

exitOnSignals();
