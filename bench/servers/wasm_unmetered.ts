/**
 * For comparison only: `jamsocket serve <module.wasm>` with the same options the benchmark gives
 * the CLI, but the module loaded unmetered (`loadWasmService(path, { metering: false })`): no fuel,
 * no time slicing, rooms in this process. The CLI has no flag for this; the difference to the
 * `jamsocket-wasm` server is what metering costs.
 *
 * ```sh
 * deno run -A bench/servers/wasm_unmetered.ts examples/wasm/counter.wasm --port 9000
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { consoleLogger } from "../../util/logger.ts";
import { serve } from "../../server.ts";
import { loadWasmService } from "../../wasm/host.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    port: { type: "string", default: "8080" },
    "heartbeat-interval": { type: "string", default: "30" },
  },
});
const logger = consoleLogger();
const service = await loadWasmService(positionals[0], { logger, metering: false });
const server = serve(service, {
  port: Number(values.port),
  hostname: "127.0.0.1",
  shutdownPolicy: "immediate",
  heartbeatInterval: Number(values["heartbeat-interval"]),
  logger,
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown());
}
await server.finished;
Deno.exit(0);
