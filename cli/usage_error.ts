/**
 * The error a command line gets when it is wrong: printed as one line, exit code 2.
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
