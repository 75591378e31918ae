import assert from "node:assert/strict";
import { SharedCounterServer } from "../examples/counter.ts";
import { createHandler, type HandlerOptions } from "../server.ts";
import { CaptureLogger, startServer } from "./_server.ts";

function handler(options: HandlerOptions = {}) {
  return createHandler(SharedCounterServer, { logger: new CaptureLogger(), ...options });
}

async function answer(
  handle: (request: Request) => Promise<Response>,
  method: string,
  path: string,
  headers: HeadersInit = {},
): Promise<[number, string]> {
  const response = await handle(new Request(`http://localhost${path}`, { method, headers }));
  return [response.status, await response.text()];
}

const UPGRADE = { upgrade: "websocket", connection: "Upgrade" };

Deno.test("GET /status answers ok", async () => {
  assert.deepEqual(await answer(handler(), "GET", "/status"), [200, "ok"]);
});

Deno.test("an unknown path is 404 and a wrong method is 405", async () => {
  const handle = handler();
  assert.deepEqual(await answer(handle, "GET", "/nope"), [404, "Not found"]);
  assert.deepEqual(await answer(handle, "GET", "/new_room"), [405, "Method not allowed; use POST"]);
  assert.deepEqual(await answer(handle, "DELETE", "/ws/a"), [
    405,
    "Method not allowed; use GET, POST",
  ]);
  assert.deepEqual(await answer(handle, "POST", "/status"), [405, "Method not allowed; use GET"]);
});

Deno.test("GET /ws/{room} without an upgrade is 400 with a reason", async () => {
  assert.deepEqual(await answer(handler(), "GET", "/ws/lobby"), [
    400,
    "Expected a WebSocket upgrade request (Upgrade: websocket)",
  ]);
});

Deno.test("malformed room ids are 400: empty, over 256 bytes, control characters, bad escapes", async () => {
  const handle = handler();
  assert.deepEqual(await answer(handle, "GET", "/ws/", UPGRADE), [400, "Room ID is empty"]);
  assert.deepEqual(await answer(handle, "POST", `/ws/${"é".repeat(129)}`), [
    400,
    "Room ID is longer than 256 bytes",
  ]);
  assert.deepEqual(await answer(handle, "POST", `/ws/${"a".repeat(256)}`), [200, "a".repeat(256)]);
  for (const bad of ["%00", "a%0Ab", "%7F", "%C2%85"]) {
    assert.deepEqual(await answer(handle, "GET", `/ws/${bad}`, UPGRADE), [
      400,
      "Room ID contains a control character",
    ]);
  }
  assert.deepEqual(await answer(handle, "GET", "/ws/%zz", UPGRADE), [
    400,
    "Room ID is not valid percent-encoding",
  ]);
});

Deno.test("implicit: POST /ws/{id} creates a room once, POST /new_room makes a UUID room", async () => {
  const handle = handler({ rooms: "implicit" });
  assert.deepEqual(await answer(handle, "POST", "/ws/my%20room"), [200, "my room"]);
  assert.deepEqual(await answer(handle, "POST", "/ws/my%20room"), [
    409,
    'Room "my room" already exists',
  ]);
  const [status, id] = await answer(handle, "POST", "/new_room");
  assert.equal(status, 200);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(await answer(handle, "POST", `/ws/${id}`), [409, `Room "${id}" already exists`]);
});

Deno.test("api: rooms come only from POST /ws/{id}; unknown rooms are 404", async () => {
  const handle = handler({ rooms: "api" });
  assert.deepEqual(await answer(handle, "POST", "/new_room"), [
    400,
    "Room ID generation is disabled; rooms must be created with an explicit ID",
  ]);
  assert.deepEqual(await answer(handle, "GET", "/ws/lobby", UPGRADE), [
    404,
    'Room "lobby" does not exist',
  ]);
  assert.deepEqual(await answer(handle, "POST", "/ws/lobby"), [200, "lobby"]);
});

Deno.test("short and uuid: rooms come only from POST /new_room; POST /ws/{id} is 403", async () => {
  for (
    const [rooms, pattern] of [["short", /^[A-Z]{4}$/], ["short7", /^[A-Z]{7}$/], [
      "uuid",
      /^[0-9a-f-]{36}$/,
    ]] as const
  ) {
    const handle = handler({ rooms });
    const [status, id] = await answer(handle, "POST", "/new_room");
    assert.equal(status, 200);
    assert.match(id, pattern);
    const [forbidden, reason] = await answer(handle, "POST", "/ws/chosen");
    assert.equal(forbidden, 403);
    assert.match(reason, new RegExp(`under the "${rooms}" strategy; use POST /new_room`));
    assert.deepEqual(await answer(handle, "GET", "/ws/unknown", UPGRADE), [
      404,
      'Room "unknown" does not exist',
    ]);
  }
});

Deno.test("a generated short room accepts WebSocket clients", async () => {
  await using server = startServer(SharedCounterServer, { rooms: "short" });
  const response = await fetch(`${server.http}/new_room`, { method: "POST" });
  const id = await response.text();
  const client = await server.connect(id);
  client.send("increment");
  assert.equal(await client.next(), "new value: 1");
  await client.close();
});

Deno.test("past maxRooms, a new room takes the place of the room empty longest", async () => {
  const handle = handler({ maxRooms: 2 });
  assert.equal((await answer(handle, "POST", "/ws/a"))[0], 200);
  assert.equal((await answer(handle, "POST", "/new_room"))[0], 200);
  assert.deepEqual(await answer(handle, "POST", "/ws/c"), [200, "c"]);
  assert.deepEqual(await answer(handle, "POST", "/ws/c"), [409, 'Room "c" already exists']);
  assert.deepEqual(await answer(handle, "POST", "/ws/a"), [200, "a"], '"a" made space for "c"');
});

Deno.test("GET /metrics renders Prometheus text", async () => {
  await using server = startServer(SharedCounterServer);
  const client = await server.connect("m");
  client.send("increment");
  await client.next();
  const response = await fetch(`${server.http}/metrics`);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assert.match(text, /^jamsocket_rooms 1$/m);
  assert.match(text, /^jamsocket_clients 1$/m);
  assert.match(text, /^jamsocket_messages_in_total 1$/m);
  assert.match(text, /^jamsocket_bytes_in_total 9$/m);
  assert.match(text, /^jamsocket_messages_out_total 1$/m);
  assert.match(text, /^jamsocket_bytes_out_total 12$/m);
  await client.close();
});

Deno.test("requests after shutdown are 503", async () => {
  const handle = handler();
  await handle.shutdown();
  assert.deepEqual(await answer(handle, "GET", "/status"), [503, "Server is shutting down"]);
});

Deno.test("fallback answers what no route and no static file does", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.txt`, "file");
  const handle = handler({
    staticDir: dir,
    fallback: (request) => new Response(`fallback ${new URL(request.url).pathname}`),
  });
  assert.deepEqual(await answer(handle, "GET", "/a.txt"), [200, "file"]);
  assert.deepEqual(await answer(handle, "GET", "/other"), [200, "fallback /other"]);
  assert.deepEqual(await answer(handle, "GET", "/status"), [200, "ok"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an upgrade request without a key is 400 and creates no room", async () => {
  await using server = startServer(SharedCounterServer);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  await conn.write(new TextEncoder().encode(
    "GET /ws/keyless HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  ));
  const buffer = new Uint8Array(4096);
  const response = new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer)) ?? 0));
  conn.close();
  assert.match(response, /^HTTP\/1\.1 400 /);
  assert.match(
    response,
    /Invalid WebSocket upgrade request: 'sec-websocket-key' header must be set/,
  );
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_rooms 0$/m);
});

Deno.test("an upgrade request for another WebSocket version is 426 with Sec-WebSocket-Version: 13", async () => {
  await using server = startServer(SharedCounterServer);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  await conn.write(new TextEncoder().encode(
    "GET /ws/old HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
  ));
  const buffer = new Uint8Array(4096);
  const response = new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer)) ?? 0));
  conn.close();
  assert.match(response, /^HTTP\/1\.1 426 /);
  assert.match(response, /\r\nsec-websocket-version: 13\r\n/);
  assert.match(response, /WebSocket version 13 is required \(Sec-WebSocket-Version\)$/);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_rooms 0$/m);
});

Deno.test("a Host header that makes no URL is 400 on every route, never 500", async () => {
  await using server = startServer(SharedCounterServer);
  for (const host of ["a b c", "[", "x:99999999", "%zz"]) {
    for (const target of ["/status", "/ws/lobby", "/metrics", "/nope"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
      await conn.write(
        new TextEncoder().encode(
          `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
        ),
      );
      const response = await new Response(conn.readable).text();
      assert.match(response, /^HTTP\/1\.1 400 /, `${host} ${target}: ${response.split("\r\n")[0]}`);
      assert.match(response, /Invalid Host header/);
    }
  }
  assert.equal(await (await fetch(`${server.http}/status`)).text(), "ok");
});
