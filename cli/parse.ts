/**
 * `parseArgs` with the CLI's error style: any problem becomes a one-line {@linkcode UsageError}.
 *
 * The rules hold for every command and flag, so a flag added to a table gets them for free:
 *
 * - A flag given twice is an error (unless its option says `multiple: true`).
 * - A negative number is a value (`--room-hosts -1`), so its check can say what is wrong with it.
 * - An unknown flag names itself, and the closest known flag when one is close.
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
 * @throws {UsageError} for an unknown flag, a flag without its value, a value for a boolean
 * flag, or a flag given more than once.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./parse.ts";
 *
 * const { values } = parseFlags(["-p", "9000"], { port: { type: "string", short: "p" } });
 * assert.equal(values.port, "9000");
 * assert.throws(
 *   () => parseFlags(["-p", "1", "--port", "2"], { port: { type: "string", short: "p" } }),
 *   /The argument '--port' was provided more than once/,
 * );
 * ```
 */
export function parseFlags(args: string[], options: Options): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: negativeValuesInline(args, options),
      options,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw usageError(error as Error, args, options);
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option" || options[token.name]?.multiple) continue;
    if (seen.has(token.name)) {
      throw new UsageError(`The argument '--${token.name}' was provided more than once`);
    }
    seen.add(token.name);
  }
  return { values: parsed.values as Parsed["values"], positionals: parsed.positionals };
}

/**
 * `--flag -1` as `--flag=-1`: `parseArgs` takes a value starting with a dash for a flag and calls
 * it ambiguous; a negative number is a value, whose own check then says what is wrong with it.
 */
function negativeValuesInline(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const name = takesValue(arg, options);
    const next = args[i + 1];
    if (name !== undefined && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The long name of the string option `arg` is (without an inline value), if it is one. */
function takesValue(arg: string, options: Options): string | undefined {
  let name: string | undefined;
  if (/^--[^=]+$/.test(arg)) name = arg.slice(2);
  else if (/^-[^-]$/.test(arg)) {
    name = Object.keys(options).find((key) => options[key].short === arg[1]);
  }
  return name !== undefined && options[name]?.type === "string" ? name : undefined;
}

function usageError(error: Error, args: string[], options: Options): UsageError {
  const message = error.message;
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) {
    const flag = unknown[1];
    const close = closest(flag.replace(/^-+/, "").split("=")[0], Object.keys(options));
    return new UsageError(
      `Found argument '${flag}' which wasn't expected${
        close ? `; did you mean '--${close}'?` : ""
      }`,
      { cause: error },
    );
  }
  const missing = /^Option '(?:-\w, )?--([\w-]+)[^']*' argument (missing|is ambiguous)/.exec(
    message,
  );
  if (missing) {
    const [, name, why] = missing;
    const index = args.findIndex((arg) => takesValue(arg, options) === name);
    const next = why === "is ambiguous" && index >= 0 ? args[index + 1] : undefined;
    return new UsageError(
      `The argument '--${name}' requires a value${next ? `, but '${next}' followed it` : ""}`,
      { cause: error },
    );
  }
  const noValue = /^Option '(?:-\w, )?--([\w-]+)' does not take an argument/.exec(message);
  if (noValue) return new UsageError(`The argument '--${noValue[1]}' takes no value`);
  return new UsageError(message.split(/\.\s/)[0], { cause: error });
}

/** The known name closest to `name`: at most 2 edits away (1 for a name of 3 letters or less). */
function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = (name.length <= 3 ? 1 : 2) + 1;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min(row[j] + 1, next[j - 1] + 1, substitution));
    }
    row = next;
  }
  return row[b.length];
}
