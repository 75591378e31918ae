import assert from "node:assert/strict";
import { ChatServer } from "../examples/chat.ts";
import { SharedCounterServer } from "../examples/counter.ts";
import { EchoServer } from "../examples/echo.ts";
import { CloseCode } from "../room/close_code.ts";
import type { ClientId, JamsocketContext, SimpleJamsocketService } from "../service.ts";
import { startServer } from "./_server.ts";
import { TestClient, waitUntil, withTimeout } from "./_client.ts";
import { LocalEngine } from "../room/local_engine.ts";
import { consoleLogger } from "../util/logger.ts";
import { RoomCrashError } from "../room/room_engine.ts";
import { TestRoom } from "../testing/mod.ts";

Deno.test("serve shares the counter between every client of room 1", async () => {
  await using server = startServer(SharedCounterServer);
  const a = await server.connect("1");
  const b = await server.connect("1");
  a.send("increment");
  assert.equal(await a.next(), "new value: 1");
  assert.equal(await b.next(), "new value: 1");
  b.send("decrement");
  assert.equal(await a.next(), "new value: 0");
  assert.equal(await b.next(), "new value: 0");
  await Promise.all([a.close(), b.close()]);
});

Deno.test("rooms are isolated: state and broadcasts stay in their room", async () => {
  await using server = startServer(SharedCounterServer);
  const one = await server.connect("one");
  const two = await server.connect("two");
  one.send("increment");
  one.send("increment");
  assert.equal(await one.next(), "new value: 1");
  assert.equal(await one.next(), "new value: 2");
  two.send("increment");
  assert.equal(await two.next(), "new value: 1");
  assert.deepEqual(one.buffered, []);
  await Promise.all([one.close(), two.close()]);
});

Deno.test("client ids start at 1 in each room and are never reused", async () => {
  await using server = startServer(EchoServer);
  const first = await server.connect("ids");
  assert.equal(await first.next(), "User 1 connected.");
  const second = await server.connect("ids");
  assert.equal(await second.next(), "User 2 connected.");
  await first.close();
  assert.equal(await second.next(), "User 1 left.");
  const third = await server.connect("ids");
  assert.equal(await third.next(), "User 3 connected.");
  const elsewhere = await server.connect("other");
  assert.equal(await elsewhere.next(), "User 1 connected.");
  third.send("hi");
  assert.equal(await second.next(), "User 3 sent 'hi'");
  assert.equal(await third.next(), "User 3 sent 'hi'");
  await Promise.all([second.close(), third.close(), elsewhere.close()]);
});

Deno.test("chat renames with /nick and broadcasts under the nickname", async () => {
  await using server = startServer(ChatServer);
  const ann = await server.connect("chat");
  assert.equal(await ann.next(), "Welcome! Your name is client1. Send /nick <name> to change.");
  assert.equal(await ann.next(), "client1 has joined the chat");
  ann.send("/nick ann");
  assert.equal(await ann.next(), "client1 is now known as ann");
  const bob = await server.connect("chat");
  assert.equal(await bob.next(), "Welcome! Your name is client2. Send /nick <name> to change.");
  assert.equal(await ann.next(), "client2 has joined the chat");
  assert.equal(await bob.next(), "client2 has joined the chat");
  ann.send("hello");
  assert.equal(await bob.next(), "ann: hello");
  await ann.close();
  assert.equal(await bob.next(), "ann has left the chat");
  await bob.close();
});

Deno.test("a room runs one event at a time, awaiting a hook's Promise before the next", async () => {
  const order: string[] = [];
  await using server = startServer(
    class implements SimpleJamsocketService {
      async message(client: ClientId, text: string, ctx: JamsocketContext) {
        order.push(`start ${text}`);
        if (text === "slow") await new Promise((resolve) => setTimeout(resolve, 50));
        order.push(`end ${text}`);
        ctx.sendMessage(client, text);
      }
    },
  );
  const client = await server.connect("order");
  client.send("slow");
  client.send("fast");
  assert.equal(await client.next(), "slow");
  assert.equal(await client.next(), "fast");
  assert.deepEqual(order, ["start slow", "end slow", "start fast", "end fast"]);
  await client.close();
});

Deno.test("an async factory's room waits for the service before its first event", async () => {
  await using server = startServer(async (_roomId, _ctx) => {
    await new Promise((resolve) => setTimeout(resolve, 30));
    return {
      connect: (client: ClientId, ctx: JamsocketContext) => ctx.sendMessage(client, "ready"),
    };
  });
  const client = await server.connect("async");
  assert.equal(await client.next(), "ready");
  await client.close();
});

Deno.test("a hook that throws is logged with room and client id, and the room goes on", async () => {
  await using server = startServer(
    class implements SimpleJamsocketService {
      message(client: ClientId, text: string, ctx: JamsocketContext) {
        if (text === "boom") throw new Error("kaboom");
        ctx.sendMessage(client, `ok ${text}`);
      }
    },
  );
  const client = await server.connect("throws");
  const other = await server.connect("calm");
  client.send("boom");
  client.send("after");
  assert.equal(await client.next(), "ok after");
  const line = await server.logger.waitFor(/kaboom/);
  assert.match(
    line,
    /^error Service hook "message" threw in room "throws" \(client 1\): Error: kaboom$/,
  );
  other.send("still here");
  assert.equal(await other.next(), "ok still here");
  await Promise.all([client.close(), other.close()]);
});

Deno.test("a constructor that throws closes the client with 1011, and the next connect retries", async () => {
  let attempts = 0;
  await using server = startServer((_roomId, _ctx) => {
    if (++attempts === 1) throw new Error("not today");
    return { connect: (client: ClientId, ctx: JamsocketContext) => ctx.sendMessage(client, "hi") };
  });
  const failed = new TestClient(server.ws("fragile"));
  const event = await failed.waitClosed();
  assert.equal(event.code, CloseCode.InternalError);
  assert.match(event.reason, /Service constructor failed in room "fragile": Error: not today/);
  assert.match(await server.logger.waitFor(/crashed/), /Room "fragile" crashed \(constructor\)/);
  const retry = await server.connect("fragile");
  assert.equal(await retry.next(), "hi");
  assert.equal(attempts, 2);
  await retry.close();
});

Deno.test("the context knows its room id and the clients it has seen connect", async () => {
  await using server = startServer(
    class implements SimpleJamsocketService {
      message(client: ClientId, _text: string, ctx: JamsocketContext) {
        ctx.sendMessage(client, `${ctx.roomId}: ${ctx.clients.join(",")}`);
      }
    },
  );
  const a = await server.connect("ctx room");
  const b = await server.connect("ctx room");
  b.send("who");
  assert.equal(await b.next(), "ctx room: 1,2");
  await a.close();
  b.send("who");
  assert.equal(await b.next(), "ctx room: 2");
  await b.close();
});

Deno.test("a message to a client that has left is dropped with a debug line", async () => {
  const contexts: JamsocketContext[] = [];
  await using server = startServer((_roomId, ctx) => {
    contexts.push(ctx);
    return {};
  }, { shutdownPolicy: "never" });
  const client = await server.connect("gone");
  await client.close();
  contexts[0].sendMessage(1, "anyone?");
  contexts[0].sendMessage(7, "nobody");
  await server.logger.waitFor(/Dropped a message to client 7 in room "gone": not connected/);
});

Deno.test("setTimer fires the timer hook once", async () => {
  await using room = new TestRoom(
    class implements SimpleJamsocketService {
      connect(_client: ClientId, ctx: JamsocketContext) {
        ctx.setTimer(20);
      }
      timer(ctx: JamsocketContext) {
        ctx.sendMessage(0, "tick");
      }
    },
  );
  const client = await room.connect();
  await room.advance(19);
  assert.deepEqual(client.take(), []);
  await room.advance(1);
  assert.deepEqual(client.take(), ["tick"]);
  await room.advance(10_000);
  assert.deepEqual(client.take(), []);
});

Deno.test("setTimer replaces the outstanding timer", async () => {
  await using room = new TestRoom(
    class implements SimpleJamsocketService {
      connect(_client: ClientId, ctx: JamsocketContext) {
        ctx.setTimer(20);
        ctx.setTimer(80);
      }
      timer(ctx: JamsocketContext) {
        ctx.sendMessage(0, "fired");
      }
    },
  );
  const client = await room.connect();
  await room.advance(79);
  assert.deepEqual(client.take(), [], "the 20 ms timer was replaced");
  await room.advance(1);
  assert.deepEqual(client.take(), ["fired"]);
  await room.advance(10_000);
  assert.deepEqual(client.take(), []);
});

Deno.test("the timer dies with the room", async () => {
  let fired = 0;
  const room = new TestRoom(
    class implements SimpleJamsocketService {
      constructor(_roomId: string, ctx: JamsocketContext) {
        ctx.setTimer(40);
      }
      timer() {
        fired++;
      }
    },
    { shutdownPolicy: "immediate" },
  );
  const client = await room.connect();
  client.close();
  await room.advance(1000);
  assert.equal(room.closed, true);
  assert.equal(fired, 0);
  assert.equal(room.clock.pendingTimers, 0);
});

/** A service that reports its own instance number and its events to a shared log. */
function instrumented(events: string[]) {
  let instances = 0;
  return class implements SimpleJamsocketService {
    readonly #instance = ++instances;
    connect(client: ClientId, ctx: JamsocketContext) {
      events.push(`connect ${client}`);
      ctx.sendMessage(client, `instance ${this.#instance}`);
    }
    disconnect(client: ClientId) {
      events.push(`disconnect ${client}`);
    }
  };
}

Deno.test("shutdown policy immediate destroys the room at the last disconnect, without the hook", async () => {
  const events: string[] = [];
  await using server = startServer(instrumented(events), { shutdownPolicy: "immediate" });
  const a = await server.connect("r");
  assert.equal(await a.next(), "instance 1");
  const b = await server.connect("r");
  assert.equal(await b.next(), "instance 1");
  await b.close();
  await waitUntil(() => events.includes("disconnect 2"), "disconnect 2");
  await a.close();
  const again = await server.connect("r");
  assert.equal(await again.next(), "instance 2");
  assert.deepEqual(events, ["connect 1", "connect 2", "disconnect 2", "connect 1"]);
  await again.close();
});

Deno.test("shutdown policy never keeps an empty room and its state", async () => {
  const events: string[] = [];
  await using server = startServer(instrumented(events), { shutdownPolicy: "never" });
  const a = await server.connect("r");
  assert.equal(await a.next(), "instance 1");
  await a.close();
  await waitUntil(() => events.includes("disconnect 1"), "disconnect 1");
  const b = await server.connect("r");
  assert.equal(await b.next(), "instance 1");
  assert.deepEqual(events, ["connect 1", "disconnect 1", "connect 2"]);
  await b.close();
});

Deno.test("shutdown policy afterMs keeps a room that is rejoined in time, and destroys it after", async () => {
  const room = new TestRoom(EchoServer, { shutdownPolicy: { afterMs: 150 } });
  const a = await room.connect();
  a.close();
  await room.advance(149);
  const b = await room.connect();
  assert.deepEqual(b.take(), ["User 2 connected."], "the same room, rejoined in time");
  b.close();
  await room.advance(149);
  assert.equal(room.closed, false);
  await room.advance(1);
  assert.equal(room.closed, true);
});

Deno.test("shutdown closes every client with 1001 and the server stops", async () => {
  const server = startServer(EchoServer);
  const client = await server.connect("bye");
  await client.next();
  await server.server.shutdown();
  const event = await client.waitClosed();
  assert.equal(event.code, CloseCode.GoingAway);
  await server.server.finished;
});

Deno.test("LocalEngine.close resolves after a crash, even when asked afterwards", async () => {
  const crashes: string[] = [];
  const engine = new LocalEngine(
    "crashy",
    () => ({
      message() {
        throw new RoomCrashError("trap", "boom");
      },
    }),
    { send() {}, closeClient() {}, setTimer() {}, crash: (error) => crashes.push(error.message) },
    consoleLogger(),
  );
  engine.message(1, "x");
  engine.message(1, "ignored after the crash");
  await withTimeout(engine.close(), 1000, "close after a crash");
  assert.deepEqual(crashes, ["boom"]);
});
