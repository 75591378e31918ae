import assert from "node:assert/strict";
import { loadWasmService } from "../wasm/host.ts";
import { SharedCounterServer } from "../examples/counter.ts";
import { startServer } from "./_server.ts";
import { fixture } from "./_fixtures.ts";

/** A figure `/metrics` reports (without labels). */
async function metric(http: string, name: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)![1]);
}

/** Rooms alive and not hibernated. */
async function awake(http: string): Promise<number> {
  return await metric(http, "jamsocket_rooms") - await metric(http, "jamsocket_rooms_hibernated");
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
  assert.equal(await metric(server.http, "jamsocket_rooms"), 3);
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

Deno.test("in-process WASM rooms past the awake cap hibernate, least recently used first, and keep their state", async () => {
  const counter = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  await using server = startServer(counter, { roomsPerHost: 3, listRooms: true });
  const clients = [];
  for (let i = 0; i < 12; i++) {
    const client = await server.connect(`room-${i}`);
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    clients.push(client);
  }
  assert.equal(await metric(server.http, "jamsocket_rooms"), 12);
  assert.equal(await awake(server.http), 3);
  // The three used last are the ones awake.
  const { rooms } = await (await fetch(`${server.http}/rooms`)).json() as {
    rooms: { id: string; hibernated: boolean }[];
  };
  assert.deepEqual(rooms.filter((room) => !room.hibernated).map((room) => room.id).sort(), [
    "room-10",
    "room-11",
    "room-9",
  ]);
  // Every room answers with its state, one after another and all at once.
  clients[0].send("increment");
  assert.equal(await clients[0].nextText(), "new value: 2");
  for (const client of clients) client.send("increment");
  const answers = await Promise.all(clients.map((client) => client.nextText()));
  assert.deepEqual(answers, clients.map((_, i) => `new value: ${i === 0 ? 3 : 2}`));
  assert.equal(await awake(server.http), 3);
  assert.ok(await metric(server.http, "jamsocket_room_hibernations_total") >= 9 + 12);
  await Promise.all(clients.map((client) => client.close()));
});

Deno.test("in-process WASM rooms: 200 hibernated rooms woken at once by their clients all answer, 5 awake", async () => {
  const counter = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  await using server = startServer(counter, { roomsPerHost: 5 });
  const clients = await Promise.all(
    Array.from({ length: 200 }, (_, i) => server.connect(`herd-${i}`)),
  );
  for (let round = 1; round <= 3; round++) {
    for (const client of clients) client.send("increment");
    const answers = await Promise.all(clients.map((client) => client.nextText()));
    assert.deepEqual(new Set(answers), new Set([`new value: ${round}`]));
  }
  assert.equal(await metric(server.http, "jamsocket_rooms"), 200);
  assert.ok(await awake(server.http) <= 5);
  await Promise.all(clients.map((client) => client.close()));
});

Deno.test("in-process WASM rooms: empty rooms never lock out new ones at the awake cap, and keep their state", async () => {
  const counter = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  await using server = startServer(counter, { roomsPerHost: 5 });
  for (let i = 0; i < 30; i++) {
    const client = await server.connect(`room-${i}`);
    client.send("increment");
    assert.equal(await client.nextText(), "new value: 1");
    await client.close();
  }
  assert.equal(await metric(server.http, "jamsocket_rooms"), 30);
  assert.ok(await awake(server.http) <= 5);
  const back = await server.connect("room-0");
  back.send("increment");
  assert.equal(await back.nextText(), "new value: 2");
  await back.close();
});

Deno.test("in-process WASM rooms: with every awake room mid-event, a new room waits for a slot", async () => {
  const spin = await loadWasmService(await fixture("spin"));
  await using server = startServer(spin, { roomsPerHost: 1, cpuLimit: 0.3 });
  // Spins in `connect` (in time slices, so the server goes on) until the CPU limit crashes it.
  const hog = await server.connect("spin-connect");
  const patient = await server.connect("patient");
  patient.send("hello");
  assert.equal(await patient.nextText(), "hello");
  const alive = server.server.handler.rooms().map((room) => room.id);
  assert.deepEqual(
    alive,
    ["patient"],
    "the new room ran once the spinning room gave its slot back",
  );
  assert.equal((await hog.waitClosed()).code, 1011);
  await patient.close();
});

Deno.test("in-process WASM rooms that cannot be snapshotted get 503 past the cap", async () => {
  const service = await loadWasmService(await fixture("table_set"), { name: "table_set.wasm" });
  await using server = startServer(service, { roomsPerHost: 2 });
  const a = await server.connect("a");
  const b = await server.connect("b");
  const refused = await fetch(`${server.http}/ws/c`, { method: "POST" });
  assert.equal(refused.status, 503);
  assert.equal(await refused.text(), "Server is at capacity (2 rooms); try again later");
  await Promise.all([a.close(), b.close()]);
});
