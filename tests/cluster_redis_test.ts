/** A cluster whose Redis goes away: rooms keep serving while the lease is proven, then fence. */

import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import type { TestClient } from "./_client.ts";
import ClusterService from "./fixtures/cluster_service.ts";
import { freePort } from "./_redis.ts";
import { startServer } from "./_server.ts";
import {
  connectWhenHealed,
  startCluster,
  TEST_LEASE_MS,
  type TestCluster,
  UPGRADE_HEADERS,
  who,
} from "./_cluster.ts";

const ROOMS = ["r0", "r1", "r2", "r3", "r4"];

/** A client per room through each node; resolves with them, by room. */
async function occupy(cluster: TestCluster): Promise<Map<string, TestClient[]>> {
  const clients = new Map<string, TestClient[]>();
  for (const room of ROOMS) {
    const list = [];
    for (const node of cluster.nodes) list.push(await connectWhenHealed(node.ws(room), 8000));
    clients.set(room, list);
  }
  return clients;
}

/** Every client of a room reaches the same instance; resolves with the instances, by room. */
async function oneInstanceEach(clients: Map<string, TestClient[]>): Promise<Map<string, string>> {
  const instances = new Map<string, string>();
  for (const [room, list] of clients) {
    const answers = await Promise.all(list.map(who));
    assert.equal(new Set(answers.map((w) => w[0])).size, 1, `room ${room} runs twice`);
    instances.set(room, answers[0][0]);
  }
  return instances;
}

Deno.test("cluster with Redis down: rooms keep serving until the lease can't be proven, fence with 1012, and come back once each", async () => {
  await using cluster = await startCluster(3);
  const clients = await occupy(cluster);
  const before = await oneInstanceEach(clients);
  await cluster.redis.kill();
  const down = performance.now();
  // Still serving right after Redis went away.
  await oneInstanceEach(clients);
  for (const list of clients.values()) {
    for (const client of list) {
      assert.equal((await client.waitClosed(TEST_LEASE_MS + 3000)).code, CloseCode.ServiceRestart);
    }
  }
  const fencedAfter = performance.now() - down;
  assert.ok(fencedAfter < TEST_LEASE_MS + 1000, `fenced ${fencedAfter.toFixed(0)} ms after`);
  // While Redis is down nothing new starts anywhere: 503, never a local room.
  const refused = await fetch(`${cluster.nodes[0].http}/ws/new`, { headers: UPGRADE_HEADERS });
  assert.equal(refused.status, 503);
  await refused.body?.cancel();
  assert.ok(cluster.nodes.every((node) => node.server.handler.rooms().length === 0));
  await cluster.redis.restart();
  const after = await oneInstanceEach(await occupy(cluster));
  for (const room of ROOMS) assert.notEqual(after.get(room), before.get(room));
  for (const list of clients.values()) for (const client of list) await client.close();
});

Deno.test("cluster with Redis restarted (its keys lost): every node fences, and no room runs twice after", async () => {
  await using cluster = await startCluster(3);
  const clients = await occupy(cluster);
  await oneInstanceEach(clients);
  await cluster.redis.restart();
  for (const list of clients.values()) {
    for (const client of list) {
      assert.equal((await client.waitClosed(TEST_LEASE_MS + 3000)).code, CloseCode.ServiceRestart);
    }
  }
  const again = await occupy(cluster);
  await oneInstanceEach(again);
  const total = cluster.nodes.reduce((n, node) => n + node.server.handler.rooms().length, 0);
  assert.equal(total, ROOMS.length);
  for (const list of again.values()) for (const client of list) await client.close();
});

Deno.test("cluster node whose Redis never answers: 503 before the upgrade, no room, and a clean shutdown", async () => {
  const port = freePort(); // nothing listens there
  await using node = startServer(ClusterService, {
    cluster: { redis: `redis://127.0.0.1:${port}`, leaseMs: TEST_LEASE_MS },
  });
  const response = await fetch(node.ws("lonely").replace("ws:", "http:"), {
    headers: UPGRADE_HEADERS,
  });
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "Cluster node is not ready; try again");
  assert.equal(node.server.handler.rooms().length, 0);
  await node.logger.waitFor(/could not register this node/);
});
