/**
 * Drive `tests/fixtures/flood_service.ts` under the CLI and measure how far the server's memory
 * rises, for the tests of slow readers.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CliProcess } from "./_cli.ts";
import { TestClient } from "./_client.ts";

/** A kernel-reported memory figure of a process (`VmRSS`, `VmHWM`), in KiB. */
async function kib(pid: number, field: string): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
}

/**
 * Join the flood room with a client that reads, have the room broadcast `messages` of 16 KiB,
 * check that this client got every one, and return how far the server's peak memory rose over
 * its memory before the flood, with the reading client (still open).
 */
export async function flood(
  cli: CliProcess,
  messages: number,
): Promise<{ growthMiB: number; reader: TestClient }> {
  const reader = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/flood`);
  reader.send("warm up");
  assert.equal(await reader.next(), "warm up");
  const before = await kib(cli.process.pid, "VmRSS");
  let received = 0;
  const done = new Promise<void>((resolve) => {
    reader.socket.onmessage = (event) => {
      if (event.data === "done") resolve();
      else received++;
    };
  });
  reader.send(`flood ${messages}`);
  await done;
  assert.equal(received, messages, "the reading client lost messages");
  const growthMiB = (await kib(cli.process.pid, "VmHWM") - before) / 1024;
  return { growthMiB, reader };
}
