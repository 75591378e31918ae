import assert from "node:assert/strict";
import { AuthenticatedChat } from "../examples/authenticated_chat.ts";
import { startServer } from "./_server.ts";
import { TestClient } from "./_client.ts";
import { upgradeAnswer } from "./_raw_socket.ts";

Deno.test("authenticated chat: a token names the user; lines go to everyone else; /kick", async () => {
  await using server = startServer(AuthenticatedChat);
  assert.deepEqual(await upgradeAnswer(server.server.addr.port, "/ws/lobby?token=nope"), {
    status: 401,
    body: "Unknown token",
  });
  const ann = await TestClient.open(`${server.ws("lobby")}?token=ann-secret`);
  assert.equal(await ann.nextText(), "Welcome, ann!");
  const bob = await TestClient.open(`${server.ws("lobby")}?token=bob-secret`);
  assert.equal(await bob.nextText(), "Welcome, bob!");
  assert.equal(await ann.nextText(), "bob joined");
  ann.send("hello");
  assert.equal(await bob.nextText(), "ann: hello");
  ann.send("/kick carol");
  assert.equal(await ann.nextText(), "No one called carol");
  ann.send("/kick bob");
  const closed = await bob.waitClosed();
  assert.deepEqual([closed.code, closed.reason], [4000, "Kicked by ann"]);
  assert.equal(await ann.nextText(), "bob left");
  assert.deepEqual(ann.buffered, []);
  await ann.close();
});
