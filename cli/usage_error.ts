/**
 * The error a command line gets when it is wrong: printed as one `error:` line and a hint to the
 * command's help, exit code 2.
 *
 * @module
 */

/**
 * A mistake in the command line (unknown flag, bad value, missing argument).
 *
 * @example
 * ```ts
 * import { UsageError } from "./usage_error.ts";
 *
 * const error = new UsageError("Invalid value for '--port': expected a number, got 'abc'");
 * ```
 */
export class UsageError extends Error {
  /** Create a usage error with a one-line message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/**
 * What the CLI prints for a usage error in `command` (undefined: no command was recognized): the
 * error line, then where to look.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usageErrorText, UsageError } from "./usage_error.ts";
 *
 * assert.equal(
 *   usageErrorText(new UsageError("Found argument '--bogus' which wasn't expected"), "serve"),
 *   "error: Found argument '--bogus' which wasn't expected\nTry 'jamsocket serve --help'",
 * );
 * ```
 */
export function usageErrorText(error: UsageError, command: string | undefined): string {
  return `error: ${error.message}\nTry 'jamsocket ${command ? `${command} ` : ""}--help'`;
}
