/**
 * The `jamsocket` command: `init` a service from a template, `serve` a service module, `dev`
 * (build, serve, watch, hot-reload) or `build` the service in a folder, `replay` a recorded room.
 *
 * ```sh
 * deno run -A cli.ts serve examples/counter.ts --port 8080
 * ```
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { buildCommand, devCommand } from "./cli/dev_command.ts";
import { initCommand } from "./cli/init_command.ts";
import { replayCommand } from "./cli/replay_command.ts";
import { serveCommand } from "./cli/serve_command.ts";
import { UsageError, usageErrorText } from "./cli/usage_error.ts";
import { connectRoomHost } from "./room_host/host_main.ts";
import { ROOM_HOST_COMMAND } from "./room_host/pool.ts";

/** The version of this package, as `jamsocket --version` prints it. */
export const VERSION: string = denoJson.version;

const HELP = `jamsocket ${VERSION}
Stateful services behind WebSockets, on Deno

Usage: jamsocket <COMMAND>

Commands:
  init   Start a new service in a folder, from a template (ts, rust, assemblyscript, c)
  dev    Build the service in a folder, serve it, and hot-reload it on changes
  build  Build the service in a folder and print the module's path
  serve  Serve a service: a .wasm module or a .ts/.js module
  replay Run a recorded room (serve --record) again, or compare it with a new build
  help   Print this message, or a command's help (help <COMMAND>)

Options:
  -h, --help     Print help
  -V, --version  Print version

Run 'jamsocket <COMMAND> --help' for a command's options.`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  init: initCommand,
  dev: devCommand,
  build: buildCommand,
  serve: serveCommand,
  replay: replayCommand,
};

/**
 * Run the command line `args`; resolves with the process exit code: 0 on success, 1 when the
 * service or server fails, 2 for a bad command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./cli.ts";
 *
 * assert.equal(await main(["--version"]), 0);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let [command, ...rest] = args;
  if (command === "help" && rest.length > 0) [command, ...rest] = [rest[0], "--help"];
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  try {
    if (run) return await run(rest);
    switch (command) {
      case ROOM_HOST_COMMAND:
        await connectRoomHost(rest[0]);
        return 0;
      case "help":
      case "--help":
      case "-h":
        console.log(HELP);
        return 0;
      case "--version":
      case "-V":
        console.log(`jamsocket ${VERSION}`);
        return 0;
      case undefined:
        console.error(HELP);
        return 2;
      default:
        throw new UsageError(
          `Found argument '${command}' which wasn't expected; the commands are ${
            Object.keys(COMMANDS).join(", ")
          }`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(usageErrorText(error, run ? command : undefined));
      return 2;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
