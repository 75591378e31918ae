/**
 * For the hibernation benchmark: `jamsocket serve <service>` with the CLI's flags, plus
 * `GET /gc`, which runs a full garbage collection (the process needs `--v8-flags=--expose-gc`)
 * so that memory is read after the engine has let go of what it can (freed WASM instances).
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/servers/gc_server.ts examples/wasm/counter.wasm --port 0 --hibernate-after 1
 * ```
 *
 * @module
 */

import { loadService } from "../../cli/service_loader.ts";
import { parseFlags } from "../../cli/parse.ts";
import { SERVE_FLAGS, type ServeFlagValues, serveOptionsFrom } from "../../cli/serve_flags.ts";
import { serve } from "../../server.ts";
import { consoleLogger } from "../../util/logger.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
const { values, positionals } = parseFlags(Deno.args, SERVE_FLAGS);
const logger = consoleLogger("warn");
const service = await loadService(positionals[0], { logger });
const server = serve(service, {
  ...serveOptionsFrom(values as ServeFlagValues),
  logger,
  fallback: (request) => {
    if (new URL(request.url).pathname !== "/gc") return new Response("Not found", { status: 404 });
    gc();
    gc();
    return new Response("ok");
  },
  onListen: (addr) => console.log(`listening on http://${addr.hostname}:${addr.port}`),
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown());
}
await server.finished;
Deno.exit(0);
