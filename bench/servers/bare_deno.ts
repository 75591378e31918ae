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

import { parseArgs } from "node:util";

interface CounterRoom {
  value: number;
  /** Sockets accepted and not yet closed, open or still connecting. */
  members: number;
  /** Open sockets, which get the broadcasts. */
  readonly clients: Set<WebSocket>;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8080" },
    hostname: { type: "string", default: "127.0.0.1" },
    "idle-timeout": { type: "string", default: "60" },
  },
});
const idleTimeout = Number(values["idle-timeout"]);
const rooms = new Map<string, CounterRoom>();

function join(roomId: string, socket: WebSocket): void {
  let room = rooms.get(roomId);
  if (room === undefined) {
    room = { value: 0, members: 0, clients: new Set() };
    rooms.set(roomId, room);
  }
  const joined = room;
  joined.members++;
  socket.onopen = () => joined.clients.add(socket);
  socket.onmessage = (event) => {
    if (event.data === "increment") joined.value++;
    else if (event.data === "decrement") joined.value--;
    const text = `new value: ${joined.value}`;
    for (const client of joined.clients) client.send(text);
  };
  let closed = false;
  socket.onclose = () => {
    if (closed) return; // a socket that timed out fires close twice
    closed = true;
    joined.clients.delete(socket);
    if (--joined.members === 0) rooms.delete(roomId);
  };
}

Deno.serve({
  port: Number(values.port),
  hostname: values.hostname,
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

// Exit normally on a signal, so that `--cpu-prof` writes its profile.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => Deno.exit(0));
}
