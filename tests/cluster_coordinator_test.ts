import assert from "node:assert/strict";
import type { NodeInfo } from "../cluster/coordinator.ts";
import { RedisCoordinator } from "../cluster/redis_coordinator.ts";
import { RedisServer } from "./_redis.ts";

const LEASE = 300;

function node(id: string, rooms = 0): NodeInfo {
  return {
    id,
    link: `127.0.0.1:${7000 + id.length}`,
    http: "",
    rooms,
    clients: 0,
    draining: false,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every key in the database, with its TTL in ms. */
async function keyTtls(redis: RedisServer): Promise<Map<string, number>> {
  const reply = await redis.command("KEYS", "*");
  const keys = reply.split("\r\n").filter((line, i) => i > 0 && !line.startsWith("$") && line);
  const ttls = new Map<string, number>();
  for (const key of keys) {
    ttls.set(key, Number((await redis.command("PTTL", key)).slice(1)));
  }
  return ttls;
}

Deno.test("RedisCoordinator registers nodes, lists live ones, and refuses a taken id", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new RedisCoordinator(redis.url);
  try {
    await coordinator.register(node("a", 2), LEASE);
    await coordinator.register(node("b"), LEASE);
    await assert.rejects(coordinator.register(node("a"), LEASE), /node id taken/);
    const renewal = await coordinator.renew(node("a", 5), LEASE);
    assert.ok(renewal.renewed);
    const a = renewal.nodes.find((n) => n.id === "a")!;
    assert.equal(a.rooms, 5);
    assert.equal(a.link, "127.0.0.1:7001");
    assert.ok(a.readyInMs > 0 && a.readyInMs <= LEASE);
    assert.deepEqual((await coordinator.nodes()).map((n) => n.id).sort(), ["a", "b"]);
  } finally {
    await coordinator.close();
  }
});

Deno.test("RedisCoordinator gives a room one owner among racing nodes, with growing fences", async () => {
  await using redis = await RedisServer.start();
  const coordinators = Array.from({ length: 8 }, () => new RedisCoordinator(redis.url));
  try {
    await Promise.all(coordinators.map((c, i) => c.register(node(`n${i}`), 5000)));
    // A node claims nothing within its first lease period.
    const early = await coordinators[0].acquire("lobby", "n0", "join");
    assert.ok(!early.acquired && early.owner === undefined && early.retryInMs > 0);
    await redis.command(
      "EVAL",
      "for _, k in ipairs(redis.call('KEYS', '*node:*')) do redis.call('HSET', k, 'readyAt', 0) end",
      "0",
    );
    const results = await Promise.all(
      coordinators.map((c, i) => c.acquire("lobby", `n${i}`, "join")),
    );
    const winners = results.filter((r) => r.acquired);
    assert.equal(winners.length, 1);
    const winner = results.findIndex((r) => r.acquired);
    const fence = (winners[0] as { fence: number }).fence;
    for (const result of results) {
      if (!result.acquired) assert.deepEqual(result.owner, { node: `n${winner}`, fence });
    }
    assert.deepEqual(await coordinators[3].lookup("lobby"), { node: `n${winner}`, fence });
    // The owner claiming again (a fresh instance) gets a larger token; exclusive is a conflict.
    const again = await coordinators[winner].acquire("lobby", `n${winner}`, "join");
    assert.ok(again.acquired && again.fence > fence);
    const exclusive = await coordinators[winner].acquire("lobby", `n${winner}`, "exclusive");
    assert.ok(!exclusive.acquired && exclusive.owner?.node === `n${winner}`);
    // Leaving on purpose frees the room at once; the next owner's token is larger still.
    await coordinators[winner].unregister(`n${winner}`);
    assert.equal(await coordinators[0].lookup("lobby"), undefined);
    const other = (winner + 1) % coordinators.length;
    const next = await coordinators[other].acquire("lobby", `n${other}`, "exclusive");
    assert.ok(next.acquired && next.fence > (again as { fence: number }).fence);
  } finally {
    await Promise.all(coordinators.map((c) => c.close()));
  }
});

Deno.test("RedisCoordinator never renews a lease that ran out (a paused node resuming)", async () => {
  await using redis = await RedisServer.start();
  const a = new RedisCoordinator(redis.url);
  const b = new RedisCoordinator(redis.url);
  try {
    await a.register(node("a"), LEASE);
    await b.register(node("b"), 10_000);
    await sleep(LEASE + 50);
    const claim = await a.acquire("lobby", "a", "join");
    assert.ok(!claim.acquired && claim.owner === undefined, "a claimed with a lapsed lease");
    // "a" is past its lease: "b" may take its rooms.
    await redis.command("HSET", "jamsocket:node:b", "readyAt", "0");
    const taken = await b.acquire("lobby", "b", "join");
    assert.ok(taken.acquired);
    // "a" resumes: its renewal is refused and brings nothing back.
    assert.deepEqual(await a.renew(node("a"), LEASE), { renewed: false });
    assert.equal((await redis.command("EXISTS", "jamsocket:node:a")).trim(), ":0");
    assert.deepEqual((await b.nodes()).map((n) => n.id), ["b"]);
    assert.equal((await a.lookup("lobby"))?.node, "b");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("RedisCoordinator refresh, release and transfer act only on the exact claim", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new RedisCoordinator(redis.url, { roomTtlMs: 60_000 });
  try {
    await coordinator.register(node("a"), 5000);
    await coordinator.register(node("b"), 5000);
    await redis.command(
      "EVAL",
      "for _, k in ipairs(redis.call('KEYS', '*node:*')) do redis.call('HSET', k, 'readyAt', 0) end",
      "0",
    );
    const one = await coordinator.acquire("one", "a", "join");
    const two = await coordinator.acquire("two", "a", "join");
    assert.ok(one.acquired && two.acquired);
    // Someone else's record for "two" (as after a failover to a stale replica).
    await redis.command("SET", "jamsocket:room:two", "b 1", "PX", "60000");
    assert.deepEqual(
      await coordinator.refresh("a", [{ room: "one", fence: one.fence }, {
        room: "two",
        fence: two.fence,
      }]),
      ["two"],
    );
    assert.equal(await coordinator.release("one", "a", one.fence - 1), false);
    const moved = await coordinator.transfer("one", "a", one.fence, "b");
    assert.ok(moved !== undefined && moved > one.fence);
    assert.deepEqual(await coordinator.lookup("one"), { node: "b", fence: moved });
    assert.equal(await coordinator.transfer("one", "a", one.fence, "b"), undefined);
    assert.equal(await coordinator.transfer("one", "b", moved, "nobody"), undefined);
    assert.equal(await coordinator.release("one", "b", moved), true);
    assert.equal(await coordinator.lookup("one"), undefined);
    // Everything stored has a time to live.
    const ttls = await keyTtls(redis);
    assert.ok(ttls.size >= 5, `keys: ${[...ttls.keys()]}`);
    for (const [key, ttl] of ttls) assert.ok(ttl > 0, `${key} has no TTL (${ttl})`);
  } finally {
    await coordinator.close();
  }
});

Deno.test("RedisCoordinator fails fast while Redis is down and works again once it is back", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new RedisCoordinator(redis.url, { timeoutMs: 500 });
  try {
    await coordinator.register(node("a"), 5000);
    await redis.kill();
    const started = performance.now();
    await assert.rejects(coordinator.lookup("lobby"));
    assert.ok(performance.now() - started < 1500);
    await redis.restart();
    // Redis forgot everything (no persistence): the lease is gone, so renewal says so.
    let renewal;
    for (let i = 0; i < 100; i++) {
      try {
        renewal = await coordinator.renew(node("a"), 5000);
        break;
      } catch {
        await sleep(50);
      }
    }
    assert.deepEqual(renewal, { renewed: false });
  } finally {
    await coordinator.close();
  }
});
