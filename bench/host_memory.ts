/**
 * Room hosts' memory under room churn: one server with one room host and the `immediate`
 * shutdown policy; clients connect to fresh room ids, take the greeting and leave, 20 at a time.
 * Prints the host's and the front's RSS (from `/proc`) every `step` rooms, and the time the
 * rooms took. Linux only.
 *
 * ```sh
 * deno run -A bench/host_memory.ts [rooms=30000] [step=3000]
 * ```
 *
 * @module
 */

import { serve } from "../server.ts";
import { loadWasmService } from "../wasm/host.ts";
import type { Logger } from "../util/logger.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error: (line) => console.error(line) };
const rooms = Number(Deno.args[0] ?? 30_000);
const step = Number(Deno.args[1] ?? 3_000);
const service = await loadWasmService(new URL("../tests/fixtures/echo.wasm", import.meta.url), {
  logger: quiet,
});
const server = serve(service, {
  hostname: "127.0.0.1",
  port: 0,
  onListen() {},
  logger: quiet,
  roomHosts: 1,
  shutdownPolicy: "immediate",
});

/** RSS of a process, in MB. */
function rss(pid: number): string {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return (Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024).toFixed(1);
}

/** The pid of this process's one child (the room host). */
function hostPid(): number | undefined {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === Deno.pid) {
        return Number(entry.name);
      }
    } catch {
      // ended while we looked
    }
  }
  return undefined;
}

/** Connect to `room`, wait for the greeting, leave. */
async function churn(room: string): Promise<void> {
  const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws/${room}`);
  await new Promise<void>((resolve, reject) => {
    socket.onmessage = () => resolve();
    socket.onerror = () => reject(new Error(`room "${room}": WebSocket error`));
  });
  const closed = new Promise((resolve) => socket.onclose = resolve);
  socket.close();
  await closed;
}

await churn("warm-up");
const pid = hostPid();
if (pid === undefined) throw new Error("no room host process found");
console.log(`| rooms | host RSS (MB) | front RSS (MB) | µs per room |`);
console.log(`| ----: | ------------: | -------------: | ----------: |`);
console.log(`| 0 | ${rss(pid)} | ${rss(Deno.pid)} | |`);
let started = performance.now();
for (let done = 0; done < rooms;) {
  await Promise.all(Array.from({ length: 20 }, (_, i) => churn(`room-${done + i}`)));
  done += 20;
  if (done % step !== 0) continue;
  const perRoom = ((performance.now() - started) * 1000 / step).toFixed(0);
  console.log(`| ${done} | ${rss(pid)} | ${rss(Deno.pid)} | ${perRoom} |`);
  started = performance.now();
}
await server.shutdown();
