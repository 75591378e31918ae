import assert from "node:assert/strict";
import { Hono } from "hono";
import { EchoServer } from "../examples/echo.ts";
import { createHandler, type HandlerOptions } from "../server.ts";
import { CaptureLogger } from "./_server.ts";
import { TestClient } from "./_client.ts";

/** Serve `app` on 127.0.0.1:0 for one test. */
function listen(app: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app);
  return {
    http: `http://127.0.0.1:${server.addr.port}`,
    ws: `ws://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

function echoHandler(options: HandlerOptions = {}) {
  const logger = new CaptureLogger();
  return { logger, handler: createHandler(EchoServer, { logger, ...options }) };
}

Deno.test("basePath: the whole surface under /chat in a bare Deno.serve app", async () => {
  const { handler } = echoHandler({ basePath: "/chat/" });
  await using app = listen((request) =>
    new URL(request.url).pathname.startsWith("/chat") ? handler(request) : new Response("home")
  );
  assert.equal(await (await fetch(`${app.http}/`)).text(), "home");
  assert.equal(await (await fetch(`${app.http}/chat/status`)).text(), "ok");
  const client = await TestClient.open(`${app.ws}/chat/ws/lobby`);
  assert.equal(await client.nextText(), "User 1 connected.");
  const created = await fetch(`${app.http}/chat/ws/made`, { method: "POST" });
  assert.equal(await created.text(), "made");
  const outside = await fetch(`${app.http}/chatter/status`);
  assert.deepEqual([outside.status, await outside.text()], [404, 'Not found (outside "/chat")']);
  await client.close();
  await handler.shutdown();
});

Deno.test("basePath: mounted in Hono under /chat", async () => {
  const { handler } = echoHandler({ basePath: "/chat" });
  const hono = new Hono();
  hono.get("/", (c) => c.text("home"));
  hono.all("/chat/*", (c) => handler(c.req.raw));
  await using app = listen(hono.fetch);
  assert.equal(await (await fetch(`${app.http}/`)).text(), "home");
  assert.equal(await (await fetch(`${app.http}/chat/status`)).text(), "ok");
  const a = await TestClient.open(`${app.ws}/chat/ws/lobby`);
  const b = await TestClient.open(`${app.ws}/chat/ws/lobby`);
  assert.equal(await a.nextText(), "User 1 connected.");
  assert.equal(await b.nextText(), "User 2 connected.");
  b.send("hi");
  assert.equal(await a.nextText(), "User 2 sent 'hi'");
  assert.equal(await b.nextText(), "User 2 sent 'hi'");
  await Promise.all([a.close(), b.close()]);
  await handler.shutdown();
});

Deno.test("mounted under a prefix without basePath: 404 with a hint, not a silent close", async () => {
  const { handler } = echoHandler();
  await using app = listen(handler);
  const response = await fetch(`${app.http}/chat/ws/lobby`);
  assert.deepEqual([response.status, await response.text()], [
    404,
    "Not found; mounted under a path prefix? Pass it as basePath",
  ]);
  await handler.shutdown();
});

Deno.test("an upgrade of a copied Request, which Deno cannot complete, is logged and dropped", async () => {
  const { handler, logger } = echoHandler();
  await using app = listen((request) => handler(new Request(request)));
  const client = new TestClient(`${app.ws}/ws/lobby`);
  await logger.waitFor(
    /WebSocket to room "lobby" did not open within 5000 ms: the upgraded Request must be the one Deno.serve handed in/,
    8000,
  );
  assert.deepEqual(handler.rooms().map((room) => room.clients), [0]);
  client.socket.close();
  await handler.shutdown();
});
