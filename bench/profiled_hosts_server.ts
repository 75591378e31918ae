/**
 * For profiling only: `jamsocket serve <module.wasm> --room-hosts N` with the same options the
 * benchmark gives the CLI, except that every room host runs under `--cpu-prof` too (the CLI has
 * no flag for the room host command; `serve()`'s `roomHostCommand` option does, and the pool
 * appends the host's socket path to it). Run it itself
 * under `deno run --cpu-prof` to profile the front as well. SIGTERM or SIGINT stops it
 * gracefully, so that every process writes its profile.
 *
 * ```sh
 * deno run -A --cpu-prof --cpu-prof-dir /tmp/prof bench/profiled_hosts_server.ts \
 *   examples/wasm/counter.wasm --port 9000 --room-hosts 2 --cpu-prof-dir /tmp/prof
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { consoleLogger } from "../util/logger.ts";
import { serve } from "../server.ts";
import { loadWasmService } from "../wasm/host.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    port: { type: "string", default: "8080" },
    "room-hosts": { type: "string", default: "2" },
    "rooms-per-host": { type: "string", default: "3000" },
    "cpu-limit": { type: "string", default: "2" },
    "heartbeat-interval": { type: "string", default: "30" },
    "cpu-prof-dir": { type: "string", default: "." },
  },
});
const logger = consoleLogger();
const service = await loadWasmService(positionals[0], { logger });
const hostMain = new URL("../room_host/host_main.ts", import.meta.url).href;
const server = serve(service, {
  port: Number(values.port),
  hostname: "127.0.0.1",
  shutdownPolicy: "immediate",
  heartbeatInterval: Number(values["heartbeat-interval"]),
  roomHosts: Number(values["room-hosts"]),
  roomsPerHost: Number(values["rooms-per-host"]),
  cpuLimit: Number(values["cpu-limit"]),
  roomHostCommand: [
    Deno.execPath(),
    "run",
    "--cpu-prof",
    `--cpu-prof-dir=${values["cpu-prof-dir"]}`,
    "--quiet",
    "--no-config",
    "--no-prompt",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    hostMain,
  ],
  logger,
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown());
}
await server.finished;
Deno.exit(0);
