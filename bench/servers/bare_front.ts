/**
 * Baseline 2: the shared counter of `bare_deno.ts`, on our own front (`http/http_server.ts` +
 * `http/upgrade.ts`) instead of `Deno.serve` + `Deno.upgradeWebSocket`: the cost of the front
 * itself, with no framework in between.
 *
 * ```sh
 * deno run -A bench/servers/bare_front.ts --port 9001 [--idle-timeout 60]
 * ```
 *
 * @module
 */

import { exitOnSignals, join, rooms, serverArgs } from "./_counter.ts";
import { serveHttp } from "../../http/http_server.ts";
import { upgradeWebSocket } from "../../http/upgrade.ts";

const { port, hostname, idleTimeout } = serverArgs();
serveHttp((request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/status") return new Response("ok");
  if (pathname.startsWith("/ws/") && request.headers.get("upgrade") === "websocket") {
    const { socket, response } = upgradeWebSocket(request, { idleTimeout });
    join(decodeURIComponent(pathname.slice(4)), socket);
    return response;
  }
  if (pathname === "/metrics") return new Response(`jamsocket_rooms ${rooms.size}\n`);
  return new Response("Not found", { status: 404 });
}, {
  port,
  hostname,
  onListen: ({ hostname, port }) =>
    console.log(`bare front listening on http://${hostname}:${port}`),
});

exitOnSignals();
