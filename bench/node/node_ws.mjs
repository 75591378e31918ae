// Peer 2: the shared counter on Node with `ws` (8.23.0), same wire behaviour as the bare Deno
// baseline: GET /status → ok; GET /ws/{room} joins the room; every text frame broadcasts
// `new value: N`; a room is forgotten when its last client leaves. No heartbeat (ws has none
// built in). Usage: node bench/servers/node_ws.mjs --port 9002
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { WebSocketServer } from "ws";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8080" },
    hostname: { type: "string", default: "127.0.0.1" },
  },
});

/** @type {Map<string, { value: number, clients: Set<import("ws").WebSocket> }>} */
const rooms = new Map();
const wss = new WebSocketServer({ noServer: true });

const http = createServer((request, response) => {
  if (request.url === "/status") return response.end("ok");
  if (request.url === "/metrics") {
    return response.end(`jamsocket_rooms ${rooms.size}\n`);
  }
  response.statusCode = 404;
  response.end("Not found");
});

http.on("upgrade", (request, socket, head) => {
  const url = request.url ?? "";
  if (!url.startsWith("/ws/")) return socket.destroy();
  const roomId = decodeURIComponent(url.slice(4));
  wss.handleUpgrade(request, socket, head, (ws) => {
    let room = rooms.get(roomId);
    if (room === undefined) {
      room = { value: 0, clients: new Set() };
      rooms.set(roomId, room);
    }
    const joined = room;
    joined.clients.add(ws);
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : data.toString();
      if (text === "increment") joined.value++;
      else if (text === "decrement") joined.value--;
      const reply = `new value: ${joined.value}`;
      for (const client of joined.clients) client.send(reply);
    });
    ws.on("close", () => {
      joined.clients.delete(ws);
      if (joined.clients.size === 0) rooms.delete(roomId);
    });
  });
});

http.listen(Number(values.port), values.hostname, () => {
  console.log(`node ws listening on http://${values.hostname}:${values.port}`);
});

// Exit normally on a signal, so that `--cpu-prof` writes its profile.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
