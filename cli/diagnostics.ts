/**
 * Compiler diagnostics for people: the first error of a build as one headline,
 * `file:line:column: message`, with the file as the user would type it (relative to the current
 * folder), and the compiler's output cleaned of colour codes and of `file://` URLs.
 *
 * Knows the formats of `deno check` and Deno's module errors, rustc (through cargo), the
 * AssemblyScript compiler and clang.
 *
 * @module
 */

import { isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** One compiler message with where it points. */
export interface Diagnostic {
  /** The file, as {@linkcode displayPath} shows it. */
  readonly file?: string;
  /** 1-based line. */
  readonly line?: number;
  /** 1-based column. */
  readonly column?: number;
  /** The message's first line (with the compiler's error code, if any, at the end). */
  readonly message: string;
}

/** Turns a path or `file://` URL into the path shown to the user. */
export type PathMapper = (pathOrUrl: string) => string;

/**
 * The path to show for `pathOrUrl` (a path, or a `file:` URL possibly with `?v=N`): relative to
 * the current folder when it is inside it, else absolute. `remap` first moves paths of copies
 * back to their originals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { displayPath } from "./diagnostics.ts";
 *
 * assert.equal(displayPath(new URL("service.ts?v=4", `file://${Deno.cwd()}/`).href), "service.ts");
 * ```
 */
export function displayPath(pathOrUrl: string, remap?: (path: string) => string): string {
  let path = pathOrUrl;
  if (path.startsWith("file://")) {
    try {
      const url = new URL(path);
      url.search = "";
      url.hash = "";
      path = fileURLToPath(url);
    } catch {
      return pathOrUrl;
    }
  }
  path = resolve(path);
  if (remap) path = remap(path);
  const rel = relative(Deno.cwd(), path);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/**
 * A diagnostic as one line: `file:line:column: message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDiagnostic } from "./diagnostics.ts";
 *
 * assert.equal(
 *   formatDiagnostic({ file: "service.ts", line: 3, column: 7, message: "Expected ','" }),
 *   "service.ts:3:7: Expected ','",
 * );
 * ```
 */
export function formatDiagnostic(diagnostic: Diagnostic): string {
  const { file, line, column, message } = diagnostic;
  if (file === undefined) return message;
  const at = line === undefined
    ? file
    : `${file}:${line}${column === undefined ? "" : `:${column}`}`;
  return `${at}: ${message}`;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const FILE_URL = /file:\/\/\/[^\s"'`)<>]*?(?=(?::\d+)*(?=[\s"'`)<>]|$))/g;

/**
 * Compiler output made readable: no ANSI colours, `file://` URLs (and `?v=N`) as display paths,
 * trailing blank lines gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanOutput } from "./diagnostics.ts";
 *
 * const url = new URL("a.ts?v=2", `file://${Deno.cwd()}/`).href;
 * assert.equal(cleanOutput(`\x1b[36m${url}\x1b[0m:1:2\n\n`), "a.ts:1:2");
 * ```
 */
export function cleanOutput(text: string, map: PathMapper = displayPath): string {
  return text.replace(ANSI, "").replace(FILE_URL, (url) => map(url)).replace(/\s+$/, "");
}

/**
 * Every error in `deno check` output (type errors and syntax errors), in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDenoCheck } from "./diagnostics.ts";
 *
 * const output = "TS2304 [ERROR]: Cannot find name 'x'.\n    x;\n    ^\n    at /p/s.ts:2:5\n";
 * assert.deepEqual(parseDenoCheck(output, (path) => path), [
 *   { file: "/p/s.ts", line: 2, column: 5, message: "Cannot find name 'x'. (TS2304)" },
 * ]);
 * ```
 */
export function parseDenoCheck(output: string, map: PathMapper = displayPath): Diagnostic[] {
  const lines = output.replace(ANSI, "").split("\n");
  const found: Diagnostic[] = [];
  for (let i = 0; i < lines.length; i++) {
    const typeError = /^(TS\d+) \[ERROR\]: (.*)$/.exec(lines[i]);
    const otherError = /^error: (.*)$/.exec(lines[i]);
    if (!typeError && !(otherError && !/^Type checking failed/.test(otherError[1]))) continue;
    const message = typeError ? `${typeError[2]} (${typeError[1]})` : otherError![1];
    let location: RegExpExecArray | null = null;
    for (let j = i + 1; j < lines.length && j < i + 40; j++) {
      if (/^(TS\d+ \[ERROR\]|error): /.test(lines[j])) break;
      location = /^\s+at (.+):(\d+):(\d+)$/.exec(lines[j]);
      if (location) break;
    }
    found.push(
      location
        ? { file: map(location[1]), line: +location[2], column: +location[3], message }
        : { message },
    );
  }
  return found;
}

/**
 * Where a module failed to import, from the error `import()` threw: a syntax error or a missing
 * module (Deno reports them with the location in the message), or an exception thrown by the
 * module's top-level code (the first frame of its stack in a `file:` module).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importDiagnostic } from "./diagnostics.ts";
 *
 * const error = new TypeError("SyntaxError: Expected ','\n    at file:///p/s.ts?v=2:3:7");
 * assert.deepEqual(importDiagnostic(error, (path) => path), {
 *   file: "file:///p/s.ts?v=2", line: 3, column: 7, message: "SyntaxError: Expected ','",
 * });
 * ```
 */
export function importDiagnostic(error: unknown, map: PathMapper = displayPath): Diagnostic {
  if (!(error instanceof Error)) return { message: String(error) };
  const text = error.message.replace(ANSI, "");
  const firstLine = text.split("\n")[0].replace(FILE_URL, (url) => map(url));
  const inMessage = /\n\s+at (file:\S+):(\d+):(\d+)\s*$/.exec(text);
  if (inMessage) {
    return {
      file: map(inMessage[1]),
      line: +inMessage[2],
      column: +inMessage[3],
      message: firstLine,
    };
  }
  const message = `${error.name}: ${firstLine}`;
  const frame = /^\s+at (?:.*? \()?(file:\/\/\/[^\s)]+?):(\d+):(\d+)\)?$/m.exec(
    (error.stack ?? "").replace(ANSI, ""),
  );
  if (!frame) return { message };
  return { file: map(frame[1]), line: +frame[2], column: +frame[3], message };
}

/**
 * The first error in a toolchain's output: rustc (`error[E0425]: …` then ` --> file:l:c`),
 * AssemblyScript (`ERROR TS1109: …` then `└─ in file(l,c)`), clang (`file:l:c: error: …`).
 * Relative paths are resolved against `baseDirs` (the first where the file exists).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstCompilerError } from "./diagnostics.ts";
 *
 * const rustc = "error[E0425]: cannot find value `x` in this scope\n --> src/lib.rs:3:5\n";
 * assert.deepEqual(firstCompilerError(rustc, [], (path) => path), {
 *   file: "src/lib.rs", line: 3, column: 5, message: "cannot find value `x` in this scope (E0425)",
 * });
 * ```
 */
export function firstCompilerError(
  output: string,
  baseDirs: readonly string[],
  map: PathMapper = displayPath,
): Diagnostic | undefined {
  const lines = output.replace(ANSI, "").split("\n");
  const at = (file: string, line: string, column: string, message: string): Diagnostic => ({
    file: map(locate(file, baseDirs)),
    line: +line,
    column: +column,
    message,
  });
  for (let i = 0; i < lines.length; i++) {
    const rust = /^error(?:\[(E\d+)\])?: (.*)$/.exec(lines[i]);
    if (rust) {
      const where = /^\s*--> (.+):(\d+):(\d+)$/.exec(lines[i + 1] ?? "");
      const message = rust[1] ? `${rust[2]} (${rust[1]})` : rust[2];
      if (where) return at(where[1], where[2], where[3], message);
      continue;
    }
    const asc = /^ERROR (TS\d+|AS\d+): (.*)$/.exec(lines[i]);
    if (asc) {
      for (let j = i + 1; j < lines.length && j < i + 12; j++) {
        const where = /└─ in (.+)\((\d+),(\d+)\)$/.exec(lines[j]);
        if (where) return at(where[1], where[2], where[3], `${asc[2]} (${asc[1]})`);
      }
      return { message: `${asc[2]} (${asc[1]})` };
    }
    const clang = /^(.+?):(\d+):(\d+): (?:fatal )?error: (.*)$/.exec(lines[i]);
    if (clang) return at(clang[1], clang[2], clang[3], clang[4]);
  }
  return undefined;
}

/**
 * A line that starts with a relative `file:line:column: `, with the file resolved against
 * `baseDirs` (where it exists) and shown as {@linkcode displayPath} shows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relocate } from "./diagnostics.ts";
 *
 * assert.equal(relocate("no location here", ["/tmp"]), "no location here");
 * ```
 */
export function relocate(line: string, baseDirs: readonly string[]): string {
  const match = /^([^\s:]+):(\d+):(\d+): /.exec(line);
  if (!match || isAbsolute(match[1])) return line;
  return `${displayPath(locate(match[1], baseDirs))}${line.slice(match[1].length)}`;
}

/** `file` resolved against the first of `baseDirs` where it exists (else the first). */
function locate(file: string, baseDirs: readonly string[]): string {
  if (isAbsolute(file) || baseDirs.length === 0) return file;
  for (const dir of baseDirs) {
    try {
      Deno.statSync(resolve(dir, file));
      return resolve(dir, file);
    } catch {
      // not there
    }
  }
  return resolve(baseDirs[0], file);
}
