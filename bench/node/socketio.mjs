// Peer 3: the shared counter on Socket.IO (4.8.4) with its rooms. A client joins the room named
// by its handshake query (`?room=…`); `send("increment" | "decrement")` changes the room's
// counter and every message broadcasts `new value: N` to the room (as a "message" event); the
// counter is forgotten when the room empties. WebSocket transport only (no long-polling), and
// Socket.IO's own heartbeat (pingInterval 25 s) as it ships.
// Usage: node bench/servers/socketio.mjs --port 9003
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8080" },
    hostname: { type: "string", default: "127.0.0.1" },
  },
});

/** @type {Map<string, number>} */
const counters = new Map();

const http = createServer((request, response) => {
  if (request.url === "/status") return response.end("ok");
  if (request.url === "/metrics") {
    return response.end(`jamsocket_rooms ${counters.size}\n`);
  }
  // Socket.IO answers its own path; everything else is ours.
  if (!request.url?.startsWith("/socket.io/")) {
    response.statusCode = 404;
    response.end("Not found");
  }
});

const io = new Server(http, { transports: ["websocket"], serveClient: false });

io.on("connection", (socket) => {
  const query = socket.handshake.query.room;
  const room = String(Array.isArray(query) ? query[0] : query ?? "default");
  socket.join(room);
  if (!counters.has(room)) counters.set(room, 0);
  socket.on("message", (text) => {
    let value = counters.get(room) ?? 0;
    if (text === "increment") value++;
    else if (text === "decrement") value--;
    counters.set(room, value);
    io.to(room).emit("message", `new value: ${value}`);
  });
  socket.on("disconnect", () => {
    if (!io.of("/").adapter.rooms.has(room)) counters.delete(room);
  });
});

http.listen(Number(values.port), values.hostname, () => {
  console.log(
    `socket.io listening on http://${values.hostname}:${values.port}`,
  );
});

// Exit normally on a signal, so that `--cpu-prof` writes its profile.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
