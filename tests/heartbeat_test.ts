import assert from "node:assert/strict";
import { waitUntil } from "./_client.ts";
import { Opcode, RawSocket } from "./_raw_socket.ts";
import { startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";

Deno.test("heartbeat pings a silent client and closes one that does not answer, with disconnect", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), {
    heartbeatInterval: 0.2,
    heartbeatTimeout: 1,
    shutdownPolicy: "never",
  });
  const silent = await RawSocket.connect(server.server.addr.port, "/ws/hb");
  const started = Date.now();
  const ping = await silent.next();
  assert.equal(ping?.opcode, Opcode.Ping);
  assert.equal(await silent.closeCode(), 1001);
  await waitUntil(() => events.includes("disconnect 1"), "disconnect 1");
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 350, `closed after ${elapsed} ms, before two ping intervals`);
  silent.close();
});

Deno.test("heartbeat keeps a client that answers pings past the timeout", async () => {
  const events: string[] = [];
  await using server = startServer(recordingEcho(events), {
    heartbeatInterval: 0.1,
    heartbeatTimeout: 0.2,
  });
  const client = await server.connect("alive");
  await new Promise((resolve) => setTimeout(resolve, 600));
  client.send("still here?");
  assert.equal(await client.next(), "still here?");
  assert.deepEqual(events, ["connect 1"]);
  await client.close();
});
