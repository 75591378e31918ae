import assert from "node:assert/strict";
import { SharedCounterServer } from "../examples/counter.ts";
import { startServer } from "./_server.ts";

Deno.test("GET /rooms is off unless listRooms; then it lists id, clients, creation and idle time", async () => {
  {
    await using server = startServer(SharedCounterServer);
    const response = await fetch(`${server.http}/rooms`);
    assert.equal(response.status, 404);
    await response.body?.cancel();
  }
  await using server = startServer(SharedCounterServer, { listRooms: true });
  const before = Date.now();
  const a = await server.connect("alpha");
  const b = await server.connect("alpha");
  const c = await server.connect("beta");
  const response = await fetch(`${server.http}/rooms`);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  const { rooms } = await response.json();
  assert.deepEqual(rooms.map((r: { id: string; clients: number }) => [r.id, r.clients]), [
    ["alpha", 2],
    ["beta", 1],
  ]);
  for (const room of rooms) {
    assert.ok(Date.parse(room.createdAt) >= before - 1000, room.createdAt);
    assert.ok(room.idleSeconds >= 0 && room.idleSeconds < 5, String(room.idleSeconds));
  }
  assert.deepEqual(server.server.handler.rooms().map((r) => r.id), ["alpha", "beta"]);
  await Promise.all([a.close(), b.close(), c.close()]);
});

Deno.test("GET /status stays ok; /status.json has connections, seconds inactive and rooms", async () => {
  await using server = startServer(SharedCounterServer);
  assert.equal(await (await fetch(`${server.http}/status`)).text(), "ok");
  const a = await server.connect("alpha");
  const status = await (await fetch(`${server.http}/status.json`)).json();
  assert.equal(status.status, "ok");
  assert.equal(status.activeConnections, 1);
  assert.equal(status.rooms, 1);
  assert.ok(status.secondsInactive >= 0 && status.secondsInactive < 5);
  await a.close();
});
