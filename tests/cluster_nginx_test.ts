/** The examples/cluster front: three node processes behind a real nginx, in both configs. */

import assert from "node:assert/strict";
import { type Example, type FrontMode, startExample } from "../examples/cluster/cluster.ts";
import { TestClient } from "./_client.ts";
import { CLUSTER_SERVICE, connectWhenHealed, TEST_LEASE_MS, who } from "./_cluster.ts";
import { freePort } from "./_redis.ts";

async function start(mode: FrontMode): Promise<Example> {
  const example = await startExample({
    mode,
    port: freePort(),
    nodePorts: [freePort(), freePort(), freePort()],
    redisPort: freePort(),
    service: CLUSTER_SERVICE,
    nodeFlags: ["--cluster-lease", String(TEST_LEASE_MS / 1000)],
    nodeEnv: (i) => ({ NODE_NAME: `n${i}` }),
    log: () => {},
    quiet: true,
  });
  await new Promise((resolve) => setTimeout(resolve, TEST_LEASE_MS + 100));
  return example;
}

async function forwarded(example: Example): Promise<number> {
  let total = 0;
  for (const node of example.nodes) {
    const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
    total += Number(/^jamsocket_cluster_forwarded_clients (\d+)$/m.exec(text)![1]);
  }
  return total;
}

for (const mode of ["round-robin", "hash"] as const) {
  Deno.test(`cluster behind nginx (${mode}): every client of a room reaches one instance, broadcasts in one order, a drained node's rooms move`, async () => {
    const example = await start(mode);
    try {
      const ws = example.url.replace("http", "ws");
      const rooms = ["alpha", "beta", "gamma"];
      for (const room of rooms) {
        const clients = [];
        for (let i = 0; i < 6; i++) clients.push(await TestClient.open(`${ws}/ws/${room}`));
        const answers = await Promise.all(clients.map(who));
        assert.equal(new Set(answers.map((w) => w[0])).size, 1, `room ${room} runs twice`);
        for (let i = 0; i < 30; i++) clients[i % 6].send(`broadcast ${i}`);
        const seen = await Promise.all(clients.map(async (client) => {
          const frames = [];
          for (let i = 0; i < 30; i++) frames.push(await client.nextText());
          return frames.join(",");
        }));
        assert.equal(new Set(seen).size, 1);
        const reached = new Set(answers.map((w) => w[3]));
        if (mode === "hash") {
          // Every client landed on the owner: nothing is forwarded.
          assert.equal(await forwarded(example), 0);
        } else {
          // Round robin spreads the six clients over the nodes; forwarding does the rest.
          assert.equal(reached.size, 1, "who answers from the owner");
          assert.ok(await forwarded(example) >= 3);
        }
        for (const client of clients) await client.close();
      }
      // Drain one node (SIGTERM): it exits 0, and clients through nginx land on the others.
      const alpha = await TestClient.open(`${ws}/ws/alpha`);
      const drained = example.nodes[0].process;
      drained.kill("SIGTERM");
      assert.equal((await drained.status).code, 0);
      for (const room of ["alpha", "delta"]) {
        const clients = [];
        for (let i = 0; i < 4; i++) clients.push(await connectWhenHealed(`${ws}/ws/${room}`));
        const answers = await Promise.all(clients.map(who));
        assert.equal(new Set(answers.map((w) => w[0])).size, 1, `room ${room} runs twice`);
        assert.ok(answers.every((w) => w[3] !== "n0"));
        for (const client of clients) await client.close();
      }
      if (alpha.socket.readyState !== WebSocket.CLOSED) await alpha.close();
    } finally {
      await example.stop();
    }
  });
}
