/**
 * A child `deno run` process as a kill switch: how long it takes to start and say so, what it
 * costs, and how soon it is gone after SIGKILL while spinning. Five children, one at a time.
 *
 * ```sh
 * deno run -A scripts/facts/process_kill.ts
 * ```
 *
 * @module
 */

import { mib, procBytes, spawnSelf } from "./_facts.ts";

const CHILDREN = 5;

if (Deno.args[0] === "--spin") {
  console.log("spinning");
  for (;;) { /* until killed */ }
} else {
  const starts: number[] = [];
  const rss: number[] = [];
  const kills: number[] = [];
  for (let i = 0; i < CHILDREN; i++) {
    const start = performance.now();
    const child = spawnSelf(import.meta.url, ["--spin"]);
    await child.line();
    starts.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, 100));
    rss.push(procBytes(child.pid, "VmRSS"));
    const killed = performance.now();
    const gone = child.status.then(() => performance.now() - killed);
    const status = await child.kill();
    kills.push(await gone);
    if (status.signal !== "SIGKILL") throw new Error(`Child ended with ${JSON.stringify(status)}`);
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
  console.log(
    `child deno process (median of ${CHILDREN}): ${median(starts).toFixed(0)} ms to start and ` +
      `print, RSS ${mib(median(rss))}, exit status ${median(kills).toFixed(2)} ms after SIGKILL`,
  );
}
