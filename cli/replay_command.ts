/**
 * `jamsocket replay <RECORDING> --service <MODULE>`: run a recorded room again.
 *
 * @module
 */

import { loadRecording, replay } from "../recording/replay.ts";
import { parseFlags } from "./parse.ts";
import { loadService } from "./service_loader.ts";
import { UsageError } from "./usage_error.ts";

/** Help for `jamsocket replay`. */
export const REPLAY_HELP = `Replay a recorded room (from serve --record DIR) against a service

Usage: jamsocket replay [OPTIONS] --service <MODULE> <RECORDING>

Arguments:
  <RECORDING>  A room's recording: a .jsonl file from the --record folder

Options:
      --service <MODULE>  The service to replay into: a .wasm module or a .ts/.js module
      --diff              Compare the outputs with the recorded ones; say where they first
                          differ (exit 1), or that they match (exit 0)
  -h, --help              Print help`;

/**
 * Run `jamsocket replay`: print every output of the replay (one JSON line each), or with
 * `--diff` compare them with the recording's.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await replayCommand(["rec.jsonl", "--service", "counter.wasm", "--diff"]));
 * ```
 */
export async function replayCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    service: { type: "string" },
    diff: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(REPLAY_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError("The following required argument was not provided: <RECORDING>");
  }
  if (typeof values.service !== "string") {
    throw new UsageError("The argument '--service <MODULE>' is required");
  }
  const recording = await loadRecording(positionals[0]);
  const service = await loadService(values.service, {
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const result = await replay(recording, service);
  if (!recording.complete) {
    console.error("note: the recording was cut short (no end line): replaying what it has");
  }
  if (!values.diff) {
    for (const output of result.outputs) console.log(JSON.stringify(output));
    return 0;
  }
  const inputs = recording.entries.length - result.recorded.length;
  if (result.difference === undefined) {
    console.log(
      `Replayed room "${recording.header.room}": ${result.outputs.length} outputs match the recording (${inputs} other entries)`,
    );
    return 0;
  }
  console.log(result.difference.message);
  return 1;
}
