/**
 * `jamsocket serve <module>`: serve a WASM module or a TypeScript service.
 *
 * @module
 */

import { listen } from "./listen.ts";
import { parseFlags } from "./parse.ts";
import {
  maxMemoryPagesFrom,
  SERVE_FLAGS,
  SERVE_FLAGS_HELP,
  type ServeFlagValues,
  serveOptionsFrom,
} from "./serve_flags.ts";
import { loadService } from "./service_loader.ts";
import { consoleLogger } from "../util/logger.ts";
import { onShutdownSignal } from "./signals.ts";
import { UsageError } from "./usage_error.ts";

/** Help for `jamsocket serve`. */
export const SERVE_HELP = `Serve a Jamsocket service

Usage: jamsocket serve [OPTIONS] <MODULE>

Arguments:
  <MODULE>  A service: a .wasm module, or a .ts/.js module whose default export is a
            service class or factory

Options:${SERVE_FLAGS_HELP}
  -h, --help                            Print help`;

/**
 * Run `jamsocket serve` with the arguments after `serve`; resolves with the exit code once the
 * server has stopped: 0 after SIGINT or SIGTERM, 1 if it stopped by itself (a supervisor set to
 * restart on failure restarts it).
 *
 * @example
 * ```ts ignore
 * Deno.exit(await serveCommand(["examples/counter.ts", "--port", "8080"]));
 * ```
 */
export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    ...SERVE_FLAGS,
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "The following required argument was not provided: <MODULE>"
        : `Found argument '${positionals[1]}' which wasn't expected`,
    );
  }
  const [path] = positionals;
  const flags = values as ServeFlagValues;
  const options = serveOptionsFrom(flags);
  const logger = consoleLogger();
  const service = await loadService(path, { logger, maxMemoryPages: maxMemoryPagesFrom(flags) });
  const server = listen(service, { ...options, logger });
  let stopping = false;
  onShutdownSignal(() => {
    stopping = true;
    return server.shutdown();
  });
  await server.finished;
  if (stopping) return 0;
  console.error("error: The server stopped without being asked to; see the log above");
  return 1;
}
