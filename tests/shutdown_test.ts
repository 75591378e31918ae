import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import type { ClientId, JamsocketContext, SimpleJamsocketService } from "../service.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { startCli } from "./_cli.ts";
import { startServer } from "./_server.ts";

Deno.test("aborting the signal closes clients with 1001, lets in-flight hooks finish, stops timers", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const server = startServer(
    class implements SimpleJamsocketService {
      connect(_client: ClientId, ctx: JamsocketContext) {
        ctx.setTimer(150);
      }
      async message(client: ClientId, text: string, ctx: JamsocketContext) {
        events.push(`start ${text}`);
        ctx.sendMessage(client, "started");
        await new Promise((resolve) => setTimeout(resolve, 100));
        events.push(`end ${text}`);
      }
      timer() {
        events.push("timer");
      }
    },
    { signal: controller.signal, shutdownPolicy: "never" },
  );
  const client = await server.connect("r");
  client.send("slow");
  assert.equal(await client.next(), "started");
  const started = performance.now();
  controller.abort();
  const event = await client.waitClosed();
  assert.deepEqual([event.code, event.reason], [CloseCode.GoingAway, "Server shutting down"]);
  await server.server.finished;
  assert.deepEqual(events, ["start slow", "end slow"]);
  assert.ok(performance.now() - started < 2000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(events, ["start slow", "end slow"], "the room's timer fired after shutdown");
  const refused = await fetch(`${server.http}/status`).catch((error) => error);
  assert.ok(refused instanceof TypeError, "the server still accepts connections");
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`jamsocket serve exits 0 on ${signal} after closing its clients with 1001`, async () => {
    const cli = await startCli(["serve", new URL("../examples/echo.ts", import.meta.url).pathname]);
    const client = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/r`);
    assert.equal(await client.next(), "User 1 connected.");
    const started = performance.now();
    cli.process.kill(signal);
    const status = await cli.process.status;
    assert.equal(status.code, 0);
    assert.equal((await client.waitClosed()).code, CloseCode.GoingAway);
    assert.ok(performance.now() - started < 5000, "shutdown took longer than 5 s");
    await waitUntil(() => client.socket.readyState === WebSocket.CLOSED, "closed");
  });
}

Deno.test("shutdown stops waiting for a hook that never finishes after shutdownTimeout", async () => {
  const server = startServer(
    class implements SimpleJamsocketService {
      message(client: ClientId, _text: string, ctx: JamsocketContext) {
        ctx.sendMessage(client, "stuck");
        return new Promise<void>(() => {});
      }
    },
    { shutdownTimeout: 0.2 },
  );
  const client = await server.connect("stuck");
  client.send("x");
  assert.equal(await client.next(), "stuck");
  const started = performance.now();
  await server.server.shutdown();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 190 && elapsed < 2000, `shutdown took ${elapsed.toFixed(0)} ms`);
  assert.equal((await client.waitClosed()).code, CloseCode.GoingAway);
});
