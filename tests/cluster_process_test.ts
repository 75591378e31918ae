/**
 * Cluster nodes as real `jamsocket serve` processes: killed with SIGKILL, paused with SIGSTOP,
 * drained with SIGTERM.
 */

import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import { cliOutput, type CliProcess } from "./_cli.ts";
import { TestClient } from "./_client.ts";
import { connectWhenHealed, startNodes, stopNodes, TEST_LEASE_MS, who } from "./_cluster.ts";
import { RedisServer } from "./_redis.ts";

const url = (node: CliProcess, room: string) => `ws://127.0.0.1:${node.port}/ws/${room}`;

const nodes = (redis: RedisServer, names: string[], extra?: string[]) =>
  startNodes(redis, names, extra);
const stopAll = stopNodes;

Deno.test("cluster process: kill -9 of the owner → its clients get 1012 and the room is back on a live node within the lease", async () => {
  await using redis = await RedisServer.start();
  const [a, b, c] = await nodes(redis, ["a", "b", "c"]);
  try {
    const direct = await TestClient.open(url(a, "heal"));
    const [instance, , , node] = await who(direct);
    assert.equal(node, "a");
    const forwarded = await TestClient.open(url(b, "heal"));
    assert.equal((await who(forwarded))[0], instance);
    a.process.kill("SIGKILL");
    const killed = performance.now();
    const closed = await forwarded.waitClosed();
    assert.equal(closed.code, CloseCode.ServiceRestart);
    const again = await connectWhenHealed(url(c, "heal"));
    const [second, , , where] = await who(again);
    const healedMs = performance.now() - killed;
    assert.notEqual(second, instance);
    assert.ok(where === "b" || where === "c");
    assert.ok(healedMs < TEST_LEASE_MS + 3000, `healed after ${healedMs.toFixed(0)} ms`);
    // The dead node's lease and room records are gone: the view lists the two live nodes.
    const view = await (await fetch(`http://127.0.0.1:${b.port}/cluster`)).json();
    assert.deepEqual(view.nodes.length, 2);
    const through = await TestClient.open(url(b, "heal"));
    assert.equal((await who(through))[0], second);
    await through.close();
    await again.close();
    await direct.waitClosed();
  } finally {
    await stopAll([a, b, c]);
  }
});

Deno.test("cluster process: an owner paused past its lease fences itself on SIGCONT and never answers for its room again", async () => {
  await using redis = await RedisServer.start();
  const [a, b, c] = await nodes(redis, ["a", "b", "c"]);
  try {
    const direct = await TestClient.open(url(a, "pause"));
    const [first, , , node] = await who(direct);
    assert.equal(node, "a");
    const forwarded = await TestClient.open(url(b, "pause"));
    assert.equal((await who(forwarded))[0], first);
    a.process.kill("SIGSTOP");
    // The paused node's forwarded client is closed once its lease runs out.
    assert.equal((await forwarded.waitClosed(TEST_LEASE_MS + 4000)).code, CloseCode.ServiceRestart);
    direct.send("who"); // queued for the paused owner
    const fresh = await connectWhenHealed(url(b, "pause"));
    const [second, , , where] = await who(fresh);
    assert.notEqual(second, first);
    assert.notEqual(where, "a");
    const from = a.lines.length;
    a.process.kill("SIGCONT");
    // The old owner fences itself before it handles the queued message: its client is closed
    // with 1012 and gets no answer from the old instance.
    const closed = await direct.waitClosed();
    assert.equal(closed.code, CloseCode.ServiceRestart);
    assert.equal(closed.reason, "Node lost its cluster lease; reconnect");
    assert.deepEqual(direct.buffered, []);
    await a.waitFor(/fenced itself/, 5000, from);
    // Every client now, through any node, reaches the one new instance.
    for (const entry of [a, b, c]) {
      const client = await connectWhenHealed(url(entry, "pause"));
      assert.equal((await who(client))[0], second);
      await client.close();
    }
    await fresh.close();
  } finally {
    await stopAll([a, b, c]);
  }
});

Deno.test("cluster process: SIGTERM drains a node: exit 0, its clients get 1012 and reconnect elsewhere to one instance", async () => {
  await using redis = await RedisServer.start();
  const [a, b, c] = await nodes(redis, ["a", "b", "c"]);
  try {
    const clients = [
      await TestClient.open(url(a, "drain")),
      await TestClient.open(url(b, "drain")),
      await TestClient.open(url(c, "drain")),
    ];
    const [instance, , , node] = await who(clients[0]);
    assert.equal(node, "a");
    for (const client of clients.slice(1)) assert.equal((await who(client))[0], instance);
    const another = await TestClient.open(url(a, "another"));
    const started = performance.now();
    const status = await a.stop();
    const tookMs = performance.now() - started;
    assert.equal(status.code, 0);
    assert.ok(tookMs < 10_000, `drain took ${tookMs.toFixed(0)} ms`);
    for (const client of [...clients, another]) {
      const closed = await client.waitClosed();
      assert.equal(closed.code, CloseCode.ServiceRestart);
      assert.equal(closed.reason, "Node draining; reconnect");
    }
    // The drained node left at once (no wait for its lease); clients reconnect through b and c.
    const view = await (await fetch(`http://127.0.0.1:${b.port}/cluster`)).json();
    assert.equal(view.nodes.length, 2);
    const back = [await TestClient.open(url(b, "drain")), await TestClient.open(url(c, "drain"))];
    const answers = await Promise.all(back.map(who));
    assert.equal(answers[0][0], answers[1][0]);
    assert.notEqual(answers[0][0], instance);
    for (const client of back) await client.close();
  } finally {
    await stopAll([a, b, c]);
  }
});

Deno.test("cluster flags: bad values are one error line, a pointer to --help, and exit code 2", async () => {
  const cases: [string[], string][] = [
    [["--cluster", "localhost:6379"], "Invalid value for '--cluster': expected redis://HOST:PORT"],
    [["--cluster", "redis://h:1", "--placement", "random"], "expected least-loaded or local"],
    [["--cluster", "redis://h:1", "--node-address", "nowhere"], "expected HOST:PORT"],
    [["--cluster", "redis://h:1", "--cluster-lease", "0"], "expected a number > 0"],
    [["--cluster", "redis://h:1", "--cluster-lease", "0.1"], "expected at least 0.2 seconds"],
    [["--node-address", "127.0.0.1:7000"], "'--node-address' needs '--cluster'"],
  ];
  for (const [flags, message] of cases) {
    const { code, stderr } = await cliOutput(["serve", "examples/counter.ts", ...flags]);
    assert.equal(code, 2, flags.join(" "));
    const lines = stderr.trim().split("\n");
    assert.deepEqual([lines.length, lines[1]], [2, "Try 'jamsocket serve --help'"], stderr);
    assert.ok(lines[0].startsWith("error: ") && lines[0].includes(message), stderr);
  }
});

Deno.test("cluster process: a room placed on a node that stopped answering is 503, not 500", async () => {
  await using redis = await RedisServer.start();
  // A lease longer than a link request's 3 s: b is still live when a's request to it times out.
  const flags = ["--placement", "least-loaded", "--cluster-lease", "4"];
  const [a, b] = await nodes(redis, ["a", "b"], flags);
  try {
    // A room on b reached through a: the two are linked.
    const onB = await TestClient.open(url(b, "on-b"));
    const viaA = await TestClient.open(url(a, "on-b"));
    assert.equal((await who(viaA))[3], "b");
    b.process.kill("SIGSTOP");
    const answers: string[] = [];
    try {
      // New rooms through a: those it places here are made at once; once a has more rooms than
      // b, one goes to b, which does not answer.
      for (let i = 0; i < 4 && !answers.some((answer) => answer.startsWith("503")); i++) {
        const response = await fetch(`http://127.0.0.1:${a.port}/ws/fresh-${i}`, {
          method: "POST",
        });
        answers.push(`${response.status} ${await response.text()}`);
      }
    } finally {
      b.process.kill("SIGCONT");
    }
    assert.ok(answers.every((answer) => /^(200|503) /.test(answer)), answers.join("; "));
    assert.ok(
      answers.includes("503 The room's node did not answer; try again"),
      answers.join("; "),
    );
    await Promise.all([onB, viaA].map((client) => client.close().catch(() => {})));
  } finally {
    await stopAll([a, b]);
  }
});
