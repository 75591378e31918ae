/**
 * The logging seam: every part of the server logs through a {@linkcode Logger}.
 *
 * @module
 */

/**
 * Where the server writes what happened. Each call is one line. Inject your own to route logs
 * elsewhere, or to capture them in tests.
 *
 * @example Capture log lines
 * ```ts
 * import type { Logger } from "./logger.ts";
 *
 * const lines: string[] = [];
 * const logger: Logger = {
 *   debug: () => {},
 *   info: (line) => lines.push(line),
 *   warn: (line) => lines.push(line),
 *   error: (line) => lines.push(line),
 * };
 * ```
 */
export interface Logger {
  /** Detail for debugging (dropped sends, protocol steps). */
  debug(line: string): void;
  /** Normal operation (listening, rooms created and closed). */
  info(line: string): void;
  /** Something a client or a service did wrong; the server goes on. */
  warn(line: string): void;
  /** A room crashed, or something the operator must look at. */
  error(line: string): void;
}

/** Log levels, from the most to the least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * A logger that writes to the console at `level` and above: debug and info to stdout, warnings and
 * errors to stderr.
 *
 * @example
 * ```ts
 * import { consoleLogger } from "./logger.ts";
 *
 * const logger = consoleLogger("warn");
 * logger.info("not shown");
 * ```
 */
export function consoleLogger(level: LogLevel = "info"): Logger {
  const min = LEVELS.indexOf(level);
  const at = (lvl: LogLevel, write: (line: string) => void) =>
    LEVELS.indexOf(lvl) >= min ? write : () => {};
  return {
    debug: at("debug", (line) => console.debug(line)),
    info: at("info", (line) => console.info(line)),
    warn: at("warn", (line) => console.warn(line)),
    error: at("error", (line) => console.error(line)),
  };
}

/**
 * A logger that appends each line to `lines` as `"<level> <line>"`: for test rooms and replays,
 * whose logs are read afterwards.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayLogger } from "./logger.ts";
 *
 * const lines: string[] = [];
 * arrayLogger(lines).warn("careful");
 * assert.deepEqual(lines, ["warn careful"]);
 * ```
 */
export function arrayLogger(lines: string[]): Logger {
  const keep = (level: LogLevel) => (line: string) => void lines.push(`${level} ${line}`);
  return { debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") };
}

/**
 * Describe a thrown value in one line: an error's `name: message`, anything else as a string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeError } from "./logger.ts";
 *
 * assert.equal(describeError(new TypeError("bad")), "TypeError: bad");
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.split("\n")[0];
  return String(error);
}
