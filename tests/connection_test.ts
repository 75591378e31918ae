import assert from "node:assert/strict";
import { HttpError } from "../http/http_error.ts";
import {
  type AuthenticateHook,
  type ClientId,
  type JamsocketContext,
  MessageRecipient,
  type SimpleJamsocketService,
} from "../service.ts";
import { createHandler } from "../server.ts";
import { startServer } from "./_server.ts";
import { TestClient } from "./_client.ts";
import { upgradeAnswer } from "./_raw_socket.ts";

/** Says who joined and with what data; echoes `data` back; renames on `/name X`. */
class WhoIs implements SimpleJamsocketService {
  connect(client: ClientId, ctx: JamsocketContext) {
    ctx.sendMessage(client, `you are ${client}: ${JSON.stringify(ctx.clientData(client))}`);
  }
  message(client: ClientId, text: string, ctx: JamsocketContext) {
    if (text.startsWith("/name ")) {
      ctx.setClientData(client, { name: text.slice(6) });
      return;
    }
    ctx.sendMessage(client, `data: ${JSON.stringify(ctx.clientData(client))}`);
  }
}

async function roomsAlive(http: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  return Number(/^jamsocket_rooms (\d+)$/m.exec(text)![1]);
}

const byToken: AuthenticateHook = (request) => {
  const url = new URL(request.url);
  const token = url.searchParams.get("token");
  if (token === null) return new Response("Missing token", { status: 401 });
  if (token === "throw-403") throw new HttpError(403, "Token revoked");
  if (token === "throw-plain") throw new Error("database down");
  if (token === "false") return false;
  if (token === "none") return undefined;
  return { name: url.searchParams.get("name") ?? "anon", token };
};

Deno.test("auth hook: refusals are the hook's HTTP answers, before any room is created", async () => {
  await using server = startServer(WhoIs, { authenticate: byToken });
  const port = server.server.addr.port;
  assert.deepEqual(await upgradeAnswer(port, "/ws/r"), { status: 401, body: "Missing token" });
  assert.deepEqual(await upgradeAnswer(port, "/ws/r?token=throw-403"), {
    status: 403,
    body: "Token revoked",
  });
  assert.deepEqual(await upgradeAnswer(port, "/ws/r?token=throw-plain"), {
    status: 403,
    body: "Forbidden",
  });
  await server.logger.waitFor(/Auth hook for room "r" threw, answered 403: Error: database down/);
  assert.deepEqual(await upgradeAnswer(port, "/ws/r?token=false"), {
    status: 403,
    body: "Forbidden",
  });
  assert.equal(await roomsAlive(server.http), 0, "no room for refused clients");
});

Deno.test("auth hook: accepted data reaches connect and later hooks, and the service can update it", async () => {
  await using server = startServer(WhoIs, { authenticate: byToken });
  const ann = await TestClient.open(`${server.ws("r")}?token=t1&name=ann`);
  assert.equal(await ann.nextText(), 'you are 1: {"name":"ann","token":"t1"}');
  ann.send("hello");
  assert.equal(await ann.nextText(), 'data: {"name":"ann","token":"t1"}');
  ann.send("/name Ann B.");
  ann.send("again");
  assert.equal(await ann.nextText(), 'data: {"name":"Ann B."}');
  const anon = await TestClient.open(`${server.ws("r")}?token=none`);
  assert.equal(await anon.nextText(), "you are 2: undefined");
  await Promise.all([ann.close(), anon.close()]);
});

Deno.test("auth hook: a static authenticate on the class, and the option overriding it", async () => {
  class Guarded extends WhoIs {
    static authenticate() {
      return { from: "static" };
    }
  }
  {
    await using server = startServer(Guarded);
    const client = await server.connect("r");
    assert.equal(await client.nextText(), 'you are 1: {"from":"static"}');
    await client.close();
  }
  await using server = startServer(Guarded, { authenticate: () => ({ from: "option" }) });
  const client = await server.connect("r");
  assert.equal(await client.nextText(), 'you are 1: {"from":"option"}');
  await client.close();
});

Deno.test("auth hook: a hang is 503 after authTimeout; junk and oversized data are refused and logged", async () => {
  const never = new Promise<never>(() => {});
  const handler = createHandler(WhoIs, {
    authTimeout: 0.05,
    maxClientDataBytes: 100,
    logger: { debug() {}, info() {}, warn: (l) => lines.push(l), error: (l) => lines.push(l) },
    authenticate: (request) => {
      const kind = new URL(request.url).searchParams.get("kind");
      if (kind === "hang") return never;
      if (kind === "junk") return { f: () => 1 } as never;
      if (kind === "big") return { text: "x".repeat(200) };
      if (kind === "cycle") {
        const a: Record<string, unknown> = {};
        a.self = a;
        return a as never;
      }
      return undefined;
    },
  });
  const lines: string[] = [];
  const answer = async (kind: string) => {
    const response = await handler(
      new Request(`http://localhost/ws/r?kind=${kind}`, {
        headers: { upgrade: "websocket", connection: "Upgrade" },
      }),
    );
    return [response.status, await response.text()];
  };
  assert.deepEqual(await answer("hang"), [503, "Authentication timed out; try again later"]);
  assert.deepEqual(await answer("junk"), [500, "Internal server error"]);
  assert.deepEqual(await answer("big"), [500, "Internal server error"]);
  assert.deepEqual(await answer("cycle"), [500, "Internal server error"]);
  assert.match(lines[0], /took longer than 50 ms; answered 503/);
  assert.match(
    lines[1],
    /returned unusable data: TypeError: Client data is not JSON-serialisable: "f" is a function/,
  );
  assert.match(lines[2], /Client data is 211 bytes as JSON, over the limit of 100/);
  assert.match(lines[3], /not JSON-serialisable/);
  assert.equal(handler.rooms().length, 0);
  await handler.shutdown();
});

Deno.test("setClientData refuses what is not JSON or too large; the room goes on", async () => {
  await using server = startServer(
    class implements SimpleJamsocketService {
      message(client: ClientId, text: string, ctx: JamsocketContext) {
        ctx.setClientData(client, text === "big" ? "x".repeat(20_000) : (() => 1) as never);
      }
    },
  );
  const client = await server.connect("r");
  client.send("big");
  await server.logger.waitFor(/over the limit of 16384/);
  client.send("junk");
  await server.logger.waitFor(/not JSON-serialisable: the value is a function/);
  await client.close();
});

Deno.test("closeClient closes one client with a code and reason; its disconnect runs", async () => {
  const events: string[] = [];
  await using server = startServer(
    class implements SimpleJamsocketService {
      disconnect(client: ClientId) {
        events.push(`disconnect ${client}`);
      }
      message(client: ClientId, text: string, ctx: JamsocketContext) {
        if (text === "kick 2") ctx.closeClient(2, 4000, "Kicked by 1");
        if (text === "kick 99") ctx.closeClient(99);
        if (text === "bad code") ctx.closeClient(2, 1011);
        ctx.sendMessage(client, `done ${text}`);
      }
    },
  );
  const one = await server.connect("r");
  const two = await server.connect("r");
  one.send("bad code");
  await server.logger.waitFor(/closeClient expects code 1000 or 3000-4999, got 1011/);
  one.send("kick 99");
  assert.equal(await one.nextText(), "done kick 99");
  await server.logger.waitFor(/Ignored closing client 99 in room "r": not connected/);
  one.send("kick 2");
  const closed = await two.waitClosed();
  assert.deepEqual([closed.code, closed.reason], [4000, "Kicked by 1"]);
  assert.equal(await one.nextText(), "done kick 2");
  assert.deepEqual(events, ["disconnect 2"]);
  await one.close();
});

Deno.test("MessageRecipient.everyoneExcept reaches every client but one, text and binary", async () => {
  await using server = startServer(
    class implements SimpleJamsocketService {
      message(client: ClientId, text: string, ctx: JamsocketContext) {
        ctx.sendMessage(MessageRecipient.everyoneExcept(client), `${client}: ${text}`);
      }
      binary(client: ClientId, bytes: Uint8Array, ctx: JamsocketContext) {
        ctx.sendBinary(MessageRecipient.everyoneExcept(client), bytes);
      }
    },
  );
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => server.connect("r")));
  a.send("hi");
  assert.equal(await b.nextText(), "1: hi");
  assert.equal(await c.nextText(), "1: hi");
  c.send(new Uint8Array([7, 8]));
  assert.deepEqual(await a.next(), new Uint8Array([7, 8]));
  assert.deepEqual(await b.next(), new Uint8Array([7, 8]));
  b.send("marker");
  assert.equal(await a.nextText(), "2: marker");
  assert.deepEqual(a.buffered, [], "the sender got nothing of its own");
  assert.equal(await c.nextText(), "2: marker");
  assert.deepEqual(c.buffered, []);
  await Promise.all([a.close(), b.close(), c.close()]);
});

Deno.test("maxClients: one client past it gets 503 before the upgrade; a place that frees is taken", async () => {
  await using server = startServer(WhoIs, { maxClients: 2 });
  const port = server.server.addr.port;
  const a = await server.connect("r");
  const b = await server.connect("r");
  assert.deepEqual(await upgradeAnswer(port, "/ws/r"), {
    status: 503,
    body: 'Room "r" is full (2 clients); try again later',
  });
  const other = await server.connect("elsewhere");
  await a.close();
  const c = await server.connect("r");
  assert.equal(await c.nextText(), "you are 3: undefined");
  await Promise.all([b.close(), c.close(), other.close()]);
  assert.throws(() => createHandler(WhoIs, { maxClients: 0 }), /maxClients must be at least 1/);
  assert.throws(() => createHandler(WhoIs, { maxClients: -3 }), /maxClients must be at least 1/);
});

Deno.test("allowedOrigins: upgrades from other origins get 403; listed ones and non-browsers pass", async () => {
  await using server = startServer(WhoIs, {
    allowedOrigins: ["https://app.example.com", "http://localhost:5173"],
  });
  const port = server.server.addr.port;
  assert.deepEqual(await upgradeAnswer(port, "/ws/r", { origin: "https://evil.example" }), {
    status: 403,
    body: 'Origin "https://evil.example" is not allowed',
  });
  assert.equal(
    (await upgradeAnswer(port, "/ws/r", { origin: "https://app.example.com" })).status,
    101,
  );
  assert.equal(
    (await upgradeAnswer(port, "/ws/r", { origin: "http://LOCALHOST:5173" })).status,
    101,
  );
  assert.equal((await upgradeAnswer(port, "/ws/r")).status, 101);
  assert.throws(
    () => createHandler(WhoIs, { allowedOrigins: ["app.example.com/path"] }),
    /Not an origin: "app.example.com\/path"/,
  );
});
