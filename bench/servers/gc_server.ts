/**
 * For the hibernation benchmark: `jamsocket serve <service>` with the CLI's flags, plus
 * `GET /gc`, which runs V8's memory-reducing full garbage collection (the process needs
 * `--v8-flags=--expose-gc`) so that memory is read after the engine has let go of what it can
 * (freed WASM instances). Memory-reducing: it also compacts the old generation, as V8's memory
 * reducer does once a process has gone idle, and as it does under memory pressure. After an
 * ordinary full collection, pages stay committed around the holes that freed instances left (2–7
 * KiB "per room" more for hibernated rooms, differing from run to run), until that compaction.
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

/** V8's `gc()` with `--expose-gc`; `flavor: "last-resort"` asks for a memory-reducing collection. */
const gc = (globalThis as {
  gc?: (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;
}).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
const { values, positionals } = parseFlags(Deno.args, SERVE_FLAGS);
const logger = consoleLogger("warn");
const service = await loadService(positionals[0], { logger });
const server = serve(service, {
  ...serveOptionsFrom(values as ServeFlagValues),
  logger,
  fallback: (request) => {
    if (new URL(request.url).pathname !== "/gc") return new Response("Not found", { status: 404 });
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    return new Response("ok");
  },
  onListen: (addr) => console.log(`listening on http://${addr.hostname}:${addr.port}`),
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown());
}
await server.finished;
Deno.exit(0);
