/**
 * `parseArgs` with the CLI's error style: any problem becomes a one-line {@linkcode UsageError}.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./usage_error.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The parsed flags (as strings or booleans) and positional arguments. */
export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parse `args` strictly against `options`.
 *
 * @throws {UsageError} for an unknown flag or a flag without its value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./parse.ts";
 *
 * const { values } = parseFlags(["-p", "9000"], { port: { type: "string", short: "p" } });
 * assert.equal(values.port, "9000");
 * ```
 */
export function parseFlags(args: string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new UsageError(`Found argument '${unknown[1]}' which wasn't expected`);
    const missing = /^Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(message);
    if (missing) throw new UsageError(`The argument '${missing[1]}' requires a value`);
    throw new UsageError(message.split(/\.\s/)[0], { cause: error });
  }
}
