import assert from "node:assert/strict";
import { loadWasmService } from "../wasm/host.ts";
import { SharedCounterServer } from "../examples/counter.ts";
import { startServer } from "./_server.ts";
import { TestClient } from "./_client.ts";

/** Rooms alive, as `/metrics` reports them. */
async function roomsAlive(http: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  return Number(/^jamsocket_rooms (\d+)$/m.exec(text)![1]);
}

Deno.test("maxRooms: at the limit the room empty longest is closed to make space", async () => {
  await using server = startServer(SharedCounterServer, { maxRooms: 3 });
  const kept = await server.connect("kept");
  for (let i = 0; i < 20; i++) {
    const client = await server.connect(`passing-${i}`);
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    await client.close();
  }
  assert.equal(await roomsAlive(server.http), 3);
  kept.send("increment");
  assert.equal(await kept.nextText(), "new value: 1", "an occupied room is never closed");
  // The room that was left last is still there, with its state.
  const back = await server.connect("passing-19");
  back.send("increment");
  assert.equal(await back.nextText(), "new value: 2");
  await back.close();
  await kept.close();
});

Deno.test("maxRooms: with every room occupied, one more is refused with 503 before the upgrade", async () => {
  await using server = startServer(SharedCounterServer, { maxRooms: 2 });
  const a = await server.connect("a");
  const b = await server.connect("b");
  const refused = await fetch(`${server.http}/ws/c`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(refused.status, 503);
  assert.equal(await refused.text(), "Server is at capacity (2 rooms); try again later");
  const post = await fetch(`${server.http}/ws/c`, { method: "POST" });
  assert.equal(post.status, 503);
  await post.body?.cancel();
  await a.close();
  const c = await server.connect("c");
  c.send("increment");
  assert.equal(await c.nextText(), "new value: 1");
  await Promise.all([b.close(), c.close()]);
});

Deno.test("in-process WASM rooms: empty rooms never lock out new ones at the room cap", async () => {
  const counter = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  await using server = startServer(counter, { roomsPerHost: 5 });
  for (let i = 0; i < 30; i++) {
    const client = await server.connect(`room-${i}`);
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    await client.close();
  }
  assert.equal(await roomsAlive(server.http), 5);
});

Deno.test("a client the room cannot take after its upgrade is closed with a reason; the server goes on", async () => {
  // Room hosts check their own cap when a room starts, after the upgrade: one host, two rooms.
  const echo = await loadWasmService(new URL("../examples/wasm/echo.wasm", import.meta.url));
  await using server = startServer(echo, { roomHosts: 1, roomsPerHost: 2 });
  const a = await server.connect("a");
  assert.equal(await a.nextText(), "User 1 connected.");
  const b = await server.connect("b");
  assert.equal(await b.nextText(), "User 1 connected.");
  const third = new TestClient(server.ws("c"));
  const closed = await third.waitClosed();
  if (closed.code !== 1006) {
    assert.equal(closed.code, 1013);
    assert.match(closed.reason, /capacity/);
  }
  a.send("still here");
  assert.equal(await a.nextText(), "User 1 sent 'still here'");
  await Promise.all([a.close(), b.close()]);
});
