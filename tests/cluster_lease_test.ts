import assert from "node:assert/strict";
import type { Coordinator, LiveNode, NodeInfo } from "../cluster/coordinator.ts";
import { NodeLease } from "../cluster/node_lease.ts";
import { RedisCoordinator } from "../cluster/redis_coordinator.ts";
import { waitUntil } from "./_client.ts";
import { RedisServer } from "./_redis.ts";
import { CaptureLogger } from "./_server.ts";

const INFO: Omit<NodeInfo, "id"> = {
  link: "127.0.0.1:1",
  http: "",
  rooms: 0,
  clients: 0,
  draining: false,
};

interface Lapse {
  at: number;
  reason: string;
  id: string;
}

function lease(coordinator: Coordinator, leaseMs: number, now?: () => number) {
  const lapses: Lapse[] = [];
  const nodes: LiveNode[][] = [];
  const logger = new CaptureLogger();
  const ids: string[] = [];
  const nodeLease: NodeLease = new NodeLease({
    coordinator,
    leaseMs,
    info: () => INFO,
    onNodes: (list) => void nodes.push([...list]),
    onLapse: (reason) => void lapses.push({ at: performance.now(), reason, id: nodeLease.id }),
    onRegistered: (id) => void ids.push(id),
    logger,
    now,
  });
  return { lease: nodeLease, lapses, nodes, ids, logger };
}

/** A coordinator whose renewals can be made to hang, as if Redis stopped answering. */
class StallingCoordinator extends RedisCoordinator {
  stalled = false;
  override renew(node: NodeInfo, leaseMs: number) {
    if (this.stalled) return new Promise<never>(() => {});
    return super.renew(node, leaseMs);
  }
}

Deno.test("NodeLease renews and lists live nodes; a stalled node fences itself before its lease expires in Redis", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new StallingCoordinator(redis.url);
  const { lease: nodeLease, lapses, nodes } = lease(coordinator, 1000);
  try {
    nodeLease.start();
    await nodeLease.registered;
    assert.ok(nodeLease.valid());
    await waitUntil(() => nodes.length >= 3, "three renewals");
    assert.deepEqual(nodes.at(-1)!.map((n) => n.id), [nodeLease.id]);
    const id = nodeLease.id;
    coordinator.stalled = true;
    const stalledAt = performance.now();
    // Watch the key in Redis until it expires.
    let expiredAt = 0;
    await waitUntil(async () => {
      const exists = (await redis.command("EXISTS", `jamsocket:node:${id}`)).trim() === ":1";
      if (!exists) expiredAt = performance.now();
      return !exists;
    }, "the lease to expire in Redis");
    assert.equal(lapses.length >= 1, true, "the node never fenced itself");
    const lapse = lapses[0];
    assert.equal(lapse.id, id);
    assert.match(lapse.reason, /could not be renewed in time/);
    assert.ok(lapse.at < expiredAt, `fenced ${lapse.at - expiredAt} ms after the key expired`);
    assert.ok(lapse.at - stalledAt < 1000, "fenced later than one lease after the stall");
    // It came back under a new id; the old one is never renewed again.
    await nodeLease.registered;
    assert.notEqual(nodeLease.id, id);
  } finally {
    await nodeLease.stop(true);
    await coordinator.close();
  }
});

Deno.test("NodeLease fences at once when Redis lost its lease, then registers under a new id", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new RedisCoordinator(redis.url);
  const { lease: nodeLease, lapses, ids } = lease(coordinator, 2000);
  try {
    nodeLease.start();
    await nodeLease.registered;
    const first = nodeLease.id;
    await redis.restart();
    await waitUntil(() => lapses.length === 1, "the lapse", 3000);
    assert.match(lapses[0].reason, /gone from the coordinator/);
    await nodeLease.registered;
    assert.notEqual(nodeLease.id, first);
    assert.deepEqual(ids, [first, nodeLease.id]);
    assert.ok(nodeLease.valid());
  } finally {
    await nodeLease.stop(true);
    await coordinator.close();
  }
});

Deno.test("NodeLease.valid() fences on the spot when the clock jumped past the deadline (a paused process)", async () => {
  await using redis = await RedisServer.start();
  const coordinator = new RedisCoordinator(redis.url);
  let skew = 0;
  const { lease: nodeLease, lapses } = lease(coordinator, 5000, () => performance.now() + skew);
  try {
    nodeLease.start();
    await nodeLease.registered;
    assert.ok(nodeLease.valid());
    skew = 10_000;
    assert.equal(nodeLease.valid(), false);
    assert.equal(lapses.length, 1, "onLapse ran before valid() returned");
  } finally {
    await nodeLease.stop(true);
    await coordinator.close();
  }
});
