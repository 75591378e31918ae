/**
 * Rooms that move between the nodes of a cluster (real Redis, three nodes on 127.0.0.1): a drain
 * moves a room live, and its clients connected through the other nodes see no close and every
 * message, in order; rooms of a node that died come back from their last periodic snapshot; a
 * stale owner's snapshot never replaces the new owner's.
 */

import assert from "node:assert/strict";
import type { ServeOptions, ServiceDefinition } from "../server.ts";
import { decodeSnapshot, encodeSnapshot } from "../snapshot/snapshot_format.ts";
import { loadWasmService } from "../wasm/host.ts";
import { RedisCoordinator } from "../cluster/redis_coordinator.ts";
import { RedisSnapshotStore } from "../cluster/redis_snapshot_store.ts";
import type { CliProcess } from "./_cli.ts";
import { TestClient, waitUntil } from "./_client.ts";
import {
  clusterReady,
  connectWhenHealed,
  startNodes,
  stopNodes,
  TEST_LEASE_MS,
} from "./_cluster.ts";
import { RedisServer } from "./_redis.ts";
import { startServer, type TestServer } from "./_server.ts";
import MovingCounter from "./fixtures/moving_counter.ts";

/** Start `count` in-process nodes of `service` on `redis`. */
async function nodes(
  redis: RedisServer,
  count: number,
  service: ServiceDefinition = MovingCounter,
  options: ServeOptions = {},
): Promise<TestServer[]> {
  const started = Array.from({ length: count }, () =>
    startServer(service, {
      ...options,
      cluster: { redis: redis.url, leaseMs: TEST_LEASE_MS },
    }));
  await clusterReady(started);
  return started;
}

/** Every broadcast a client received: `[count, client, text]`. */
async function receive(client: TestClient, total: number): Promise<[number, number, string][]> {
  const seen: [number, number, string][] = [];
  while (seen.length < total) {
    const [count, sender, text] = (await client.nextText(10_000)).split(" ");
    seen.push([Number(count), Number(sender), text]);
  }
  return seen;
}

Deno.test("cluster move: a drain moves the room live; clients through other nodes see no close and every message, in order", async () => {
  await using redis = await RedisServer.start();
  const [a, b, c] = await nodes(redis, 3);
  try {
    // The first client reaches a: the room is created there (a tie in load stays local).
    const local = await TestClient.open(a.ws("m"));
    local.send("hello");
    assert.equal(await local.nextText(), "1 1 hello");
    assert.deepEqual(a.server.handler.rooms().map((room) => room.id), ["m"]);
    const viaB = await TestClient.open(b.ws("m"));
    const viaC = await TestClient.open(c.ws("m"));
    const closes: number[] = [];
    for (const client of [viaB, viaC]) {
      client.socket.addEventListener("close", (event) => closes.push(event.code));
    }
    // Both send all along: 60 messages each, one every 4 ms, across the drain of a.
    const PER_CLIENT = 60;
    const sending = Promise.all([viaB, viaC].map(async (client, i) => {
      for (let n = 0; n < PER_CLIENT; n++) {
        client.send(`${"bc"[i]}${n}`);
        await new Promise((resolve) => setTimeout(resolve, 4));
      }
    }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    const draining = a.server.shutdown();
    const [seenB, seenC] = await Promise.all(
      [viaB, viaC].map((client) => receive(client, 2 * PER_CLIENT)),
    );
    await sending;
    await draining;
    assert.equal((await local.waitClosed()).code, 1012, "a's own client reconnects elsewhere");
    assert.deepEqual(closes, [], "no client through b or c was closed");
    for (const seen of [seenB, seenC]) {
      // Every count once, in order, continuing from the room's state before the move.
      assert.deepEqual(seen.map(([count]) => count), seen.map((_, i) => i + 2));
      for (const sender of ["b", "c"]) {
        const texts = seen.filter(([, , text]) => text[0] === sender).map(([, , text]) => text);
        assert.deepEqual(texts, Array.from({ length: PER_CLIENT }, (_, n) => `${sender}${n}`));
      }
    }
    assert.deepEqual(seenB, seenC, "both saw the same room");
    // The room runs on b or c now, with the same clients and ids; a has left.
    const owners = [b, c].filter((node) => node.server.handler.rooms().some((r) => r.id === "m"));
    assert.equal(owners.length, 1);
    await owners[0].logger.waitFor(/^debug Created room "m"$/);
    viaB.send("after");
    assert.equal(await viaB.nextText(), `${2 + 2 * PER_CLIENT} 2 after`);
    assert.equal(await viaC.nextText(), `${2 + 2 * PER_CLIENT} 2 after`);
    await a.logger.waitFor(/^info Cluster: room "m" moved to node \w+ with 2 clients$/);
    await Promise.all([viaB.close(), viaC.close()]);
  } finally {
    await Promise.all([a, b, c].map((node) => node[Symbol.asyncDispose]()));
  }
});

Deno.test("cluster move: a WASM room (the Rust counter) moves live too, its memory with it", async () => {
  await using redis = await RedisServer.start();
  const counter = await loadWasmService(
    new URL("../examples/wasm/counter.wasm", import.meta.url),
  );
  const [a, b, c] = await nodes(redis, 3, counter);
  try {
    const local = await TestClient.open(a.ws("w"));
    local.send("increment");
    assert.equal(await local.nextText(), "new value: 1");
    const viaB = await TestClient.open(b.ws("w"));
    const viaC = await TestClient.open(c.ws("w"));
    let closes = 0;
    for (const client of [viaB, viaC]) client.socket.addEventListener("close", () => closes++);
    const sending = (async () => {
      for (let n = 0; n < 40; n++) {
        viaB.send("increment");
        await new Promise((resolve) => setTimeout(resolve, 4));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 40));
    const draining = a.server.shutdown();
    for (const client of [viaB, viaC]) {
      for (let n = 2; n <= 41; n++) assert.equal(await client.nextText(10_000), `new value: ${n}`);
    }
    await sending;
    await draining;
    assert.equal(closes, 0);
    viaC.send("decrement");
    assert.equal(await viaB.nextText(), "new value: 40");
    assert.equal(await viaC.nextText(), "new value: 40");
    await Promise.all([viaB.close(), viaC.close()]);
  } finally {
    await Promise.all([a, b, c].map((node) => node[Symbol.asyncDispose]()));
  }
});

Deno.test("cluster move: the Redis snapshot store refuses a stale token, to save and to delete", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new RedisCoordinator(redis.url);
  try {
    const store = new RedisSnapshotStore(coordinator);
    const snapshot = (count: number) => ({
      roomId: "r",
      nextClientId: 2,
      timerMs: undefined,
      takenAt: Date.now(),
      service: {
        service: "ts:MovingCounter",
        clients: [],
        data: [],
        state: new TextEncoder().encode(JSON.stringify({ count })),
      },
    });
    assert.equal(await store.load("r"), undefined);
    await store.save("r", encodeSnapshot(snapshot(1), 5));
    await assert.rejects(
      store.save("r", encodeSnapshot(snapshot(2), 4)),
      /^StaleSnapshotError: Refused a stale snapshot of room "r": fencing token 4, the stored one is 5$/,
    );
    await store.delete("r", 4);
    assert.equal(decodeSnapshot((await store.load("r"))!).fence, 5);
    await store.save("r", encodeSnapshot(snapshot(3), 7));
    await store.delete("r", 7);
    assert.equal(await store.load("r"), undefined);
    assert.equal(store.where("r"), "redis key jamsocket:snapshot:r");
  } finally {
    await coordinator.close();
  }
});

Deno.test("cluster move: SIGTERM on a node process moves its room; the clients on the other nodes stay", async () => {
  await using redis = await RedisServer.start();
  const [a, b, c] = await processes(redis, ["a", "b", "c"]);
  try {
    const local = await TestClient.open(url(a, "t"));
    local.send("where");
    assert.equal(await local.nextText(), "node a");
    const viaB = await TestClient.open(url(b, "t"));
    const viaC = await TestClient.open(url(c, "t"));
    let closes = 0;
    for (const client of [viaB, viaC]) client.socket.addEventListener("close", () => closes++);
    viaB.send("one");
    assert.equal(await viaB.nextText(), "1 2 one");
    assert.equal(await viaC.nextText(), "1 2 one");
    const status = await a.stop();
    assert.equal(status.code, 0);
    assert.equal((await local.waitClosed()).code, 1012);
    viaC.send("two");
    assert.equal(await viaB.nextText(), "2 3 two");
    assert.equal(await viaC.nextText(), "2 3 two");
    viaB.send("where");
    assert.match(await viaB.nextText(), /^node [bc]$/);
    assert.equal(closes, 0);
    await a.waitFor(/^Cluster: room "t" moved to node \w+ with 2 clients$/);
    await Promise.all([viaB.close(), viaC.close()]);
  } finally {
    await stopAll([a, b, c]);
  }
});

const MOVING_COUNTER = new URL("./fixtures/moving_counter.ts", import.meta.url).pathname;
const url = (node: CliProcess, room: string) => `ws://127.0.0.1:${node.port}/ws/${room}`;

/** Node processes of the moving counter, snapshots every 0.1 s. */
const processes = (redis: RedisServer, names: string[]) =>
  startNodes(redis, names, ["--snapshot-every", "0.1"], MOVING_COUNTER);
const stopAll = stopNodes;

async function savedSnapshots(node: CliProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
  return Number(/^jamsocket_snapshots_saved_total (\d+)$/m.exec(text)![1]);
}

/** The room's snapshot in Redis: its fencing token and the counter's count. */
async function storedCount(redis: RedisServer, room: string): Promise<[number, number]> {
  const coordinator = new RedisCoordinator(redis.url);
  try {
    const bytes = await new RedisSnapshotStore(coordinator).load(room);
    const { snapshot, fence } = decodeSnapshot(bytes!);
    return [fence, JSON.parse(new TextDecoder().decode(snapshot.service.state)).count];
  } finally {
    await coordinator.close();
  }
}

/** Count to 3 in `room` through `node`, and wait until a snapshot after that is saved. */
async function countTo3(node: CliProcess, room: string): Promise<TestClient> {
  const client = await TestClient.open(url(node, room));
  for (let n = 1; n <= 3; n++) {
    client.send(`x${n}`);
    assert.equal(await client.nextText(), `${n} 1 x${n}`);
  }
  const before = await savedSnapshots(node);
  await waitUntil(async () => await savedSnapshots(node) > before, "a periodic snapshot");
  return client;
}

Deno.test("cluster move: after kill -9 of its node, a room comes back on another node from its last periodic snapshot", async () => {
  await using redis = await RedisServer.start();
  const [a, b] = await processes(redis, ["a", "b"]);
  try {
    const client = await countTo3(a, "d");
    a.process.kill("SIGKILL");
    await a.process.status;
    await client.waitClosed();
    // Through b, once a's lease has lapsed: the room is back with its count; client 1 left it.
    const again = await connectWhenHealed(url(b, "d"), TEST_LEASE_MS * 5);
    again.send("y");
    assert.equal(await again.nextText(), "4 2 y");
    again.send("where");
    assert.equal(await again.nextText(), "node b");
    await b.waitFor(/^Restored room "d" from its snapshot/);
    await again.close();
  } finally {
    await stopAll([a, b]);
  }
});

Deno.test("cluster move: an owner paused past its lease never overwrites the new owner's snapshot", async () => {
  await using redis = await RedisServer.start();
  const [a, b] = await processes(redis, ["a", "b"]);
  try {
    const client = await countTo3(a, "s");
    const [fenceA] = await storedCount(redis, "s");
    // One more count that a has not saved yet, then a stops (SIGSTOP) past its lease.
    client.send("unsaved");
    assert.equal(await client.nextText(), "4 1 unsaved");
    a.process.kill("SIGSTOP");
    const again = await connectWhenHealed(url(b, "s"), TEST_LEASE_MS * 5);
    // b restored a's last snapshot (count 3), and saved it at once with its own token.
    again.send("y");
    assert.equal(await again.nextText(), "4 2 y");
    await waitUntil(async () => (await storedCount(redis, "s"))[1] === 4, "b's snapshot");
    const [fenceB] = await storedCount(redis, "s");
    assert.ok(fenceB > fenceA, `b's token ${fenceB} is above a's ${fenceA}`);
    // a resumes: it finds its lease gone and fences itself; whatever it tries to save is
    // refused. (An absence: wait for its lapse, then a few of its snapshot periods.)
    a.process.kill("SIGCONT");
    await a.waitFor(/^Cluster: node \w+ fenced itself: /, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await storedCount(redis, "s"), [fenceB, 4]);
    again.send("z");
    assert.equal(await again.nextText(), "5 2 z");
    await again.close();
  } finally {
    await stopAll([a, b]);
  }
});
