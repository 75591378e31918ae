/**
 * The error every toolchain driver throws when a service does not build (Cargo, AssemblyScript,
 * a custom build command), so `jamsocket dev` and `jamsocket build` report them the same way.
 *
 * @module
 */

/**
 * A build that failed. The message is one line saying what failed where; `output` holds the
 * compiler's diagnostics exactly as the toolchain printed them, for the user to read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BuildError } from "./build_error.ts";
 *
 * const error = new BuildError(
 *   'cargo build failed in "examples/echo" (exit code 101)',
 *   "error: expected one of `!` or `::`, found `<eof>`",
 * );
 * assert.equal(error.name, "BuildError");
 * assert.match(error.output, /expected one of/);
 * ```
 */
export class BuildError extends Error {
  /** The toolchain's diagnostics as it printed them (may be empty). */
  readonly output: string;

  /**
   * Create a build error.
   *
   * @param message One line: what failed, where, and why if known.
   * @param output The toolchain's diagnostics as printed.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(message: string, output: string = "", options?: ErrorOptions) {
    super(message, options);
    this.name = "BuildError";
    this.output = output;
  }
}
