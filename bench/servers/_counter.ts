/**
 * The shared counter both bare baselines serve (`bare_deno.ts`, `bare_front.ts`): `increment` /
 * `decrement` change a room's counter, every text frame broadcasts `new value: N` to the room,
 * and a room is forgotten when its last client leaves.
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

/** The rooms alive, by id. */
export const rooms = new Map<string, CounterRoom>();

/** Take `socket` into room `roomId`. */
export function join(roomId: string, socket: WebSocket): void {
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

/** `--port`, `--hostname` and `--idle-timeout` (upgradeWebSocket's heartbeat, seconds, 0 = off). */
export function serverArgs(): { port: number; hostname: string; idleTimeout: number } {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "8080" },
      hostname: { type: "string", default: "127.0.0.1" },
      "idle-timeout": { type: "string", default: "60" },
    },
  });
  return {
    port: Number(values.port),
    hostname: values.hostname,
    idleTimeout: Number(values["idle-timeout"]),
  };
}

/** Exit normally on SIGINT and SIGTERM, so that `--cpu-prof` writes its profile. */
export function exitOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => Deno.exit(0));
  }
}
