/**
 * `jamsocket serve --state DIR` as a user runs it, in real processes: SIGTERM then restart gives
 * the exact state back; `kill -9` then restart gives the last periodic snapshot back
 * (`--snapshot-every`), losing at most what came after it; and the flags' errors.
 */

import assert from "node:assert/strict";
import { cliOutput, startCli } from "./_cli.ts";
import { TestClient, waitUntil } from "./_client.ts";

const COUNTER = "examples/wasm/counter.wasm";

async function send(client: TestClient, text: string): Promise<string> {
  client.send(text);
  return await client.nextText();
}

async function savedSnapshots(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^jamsocket_snapshots_saved_total (\d+)$/m.exec(text)![1]);
}

Deno.test("jamsocket serve --state: SIGTERM saves every room, and a restart brings each back exactly", async () => {
  const state = await Deno.makeTempDir();
  try {
    const first = await startCli(["serve", COUNTER, "--state", state]);
    const a = await TestClient.open(`ws://127.0.0.1:${first.port}/ws/a`);
    const b = await TestClient.open(`ws://127.0.0.1:${first.port}/ws/b`);
    for (let i = 1; i <= 3; i++) assert.equal(await send(a, "increment"), `new value: ${i}`);
    assert.equal(await send(b, "decrement"), "new value: -1");
    const status = await first.stop();
    assert.equal(status.code, 0);
    assert.equal((await a.waitClosed()).code, 1001);
    await b.waitClosed();
    assert.ok(first.lines.includes(`Saved 2 rooms to ${state}`), first.lines.join("\n"));

    const second = await startCli(["serve", COUNTER, "--state", state]);
    try {
      const a2 = await TestClient.open(`ws://127.0.0.1:${second.port}/ws/a`);
      assert.equal(await send(a2, "increment"), "new value: 4");
      const b2 = await TestClient.open(`ws://127.0.0.1:${second.port}/ws/b`);
      assert.equal(await send(b2, "decrement"), "new value: -2");
      await second.waitFor(/^Restored room "a" from its snapshot \(\d+ bytes of state, taken/);
      await Promise.all([a2.close(), b2.close()]);
    } finally {
      assert.equal((await second.stop()).code, 0);
    }
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("jamsocket serve --state --snapshot-every: after kill -9, the last periodic snapshot comes back", async () => {
  const state = await Deno.makeTempDir();
  try {
    // One snapshot every 2 s: the test kills the server well within a period after one.
    const first = await startCli(["serve", COUNTER, "--state", state, "--snapshot-every", "2"]);
    const client = await TestClient.open(`ws://127.0.0.1:${first.port}/ws/r`);
    for (let i = 1; i <= 5; i++) assert.equal(await send(client, "increment"), `new value: ${i}`);
    await waitUntil(
      async () => await savedSnapshots(first.port) >= 1,
      "a periodic snapshot",
      10_000,
    );
    // After the snapshot, within its period: this one is lost with the process.
    assert.equal(await send(client, "increment"), "new value: 6");
    first.process.kill("SIGKILL");
    const status = await first.process.status;
    assert.equal(status.signal, "SIGKILL");
    await client.waitClosed();

    const second = await startCli(["serve", COUNTER, "--state", state]);
    try {
      const again = await TestClient.open(`ws://127.0.0.1:${second.port}/ws/r`);
      assert.equal(await send(again, "increment"), "new value: 6");
      await again.close();
    } finally {
      assert.equal((await second.stop()).code, 0);
    }
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("jamsocket serve: the state flags' errors are one line each", async () => {
  const file = await Deno.makeTempFile();
  try {
    const cases: [string[], string][] = [
      [
        ["--snapshot-every", "5"],
        "error: '--snapshot-every' needs '--state <DIR>' (the folder to save to) or '--cluster'",
      ],
      [["--state", file], `error: Invalid value for '--state': "${file}": not a folder`],
      [
        ["--hibernate-after", "soon"],
        "error: Invalid value for '--hibernate-after': expected a number >= 0, got 'soon'",
      ],
      [
        ["--hibernate-after", "0"],
        "error: Invalid value for '--hibernate-after': expected a number > 0, got '0'",
      ],
    ];
    for (const [flags, expected] of cases) {
      const { code, stderr } = await cliOutput(["serve", COUNTER, ...flags]);
      assert.equal(code, 2, flags.join(" "));
      assert.equal(stderr.trim().split("\n")[0], expected);
    }
  } finally {
    await Deno.remove(file);
  }
});
