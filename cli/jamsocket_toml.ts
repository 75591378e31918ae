/**
 * `jamsocket.toml`, the original CLI's project file, read by `jamsocket dev`.
 *
 * ```toml
 * static_files = "static"        # serve this folder (instead of the dev page)
 *
 * [service]
 * package = "my-service"         # the Cargo package to build (in a workspace)
 * room_strategy = "implicit"     # implicit, api, short, short<n>, uuid
 * shutdown_policy = "300sec"     # never, immediate, <n>sec
 * build = "make service.wasm"    # extension: any toolchain's build command (run by `sh -c`)
 * module = "service.wasm"        # extension: the module it produces (.wasm), or a .ts service
 * watch = ["src"]                # extension: what to watch (default: the whole folder)
 * ```
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import { UsageError } from "./usage_error.ts";

/** What `jamsocket.toml` says; every field is optional. */
export interface JamsocketToml {
  /** Folder of static files to serve. */
  staticFiles?: string;
  /** The Cargo package to build. */
  package?: string;
  /** The room id strategy. */
  roomStrategy?: string;
  /** The shutdown policy. */
  shutdownPolicy?: string;
  /** A build command for any other toolchain. */
  build?: string;
  /** The module `build` produces, or a TypeScript service to serve. */
  module?: string;
  /** Paths to watch, relative to the project. */
  watch?: string[];
}

const SERVICE_KEYS = ["package", "room_strategy", "shutdown_policy", "build", "module", "watch"];

/**
 * Parse `jamsocket.toml` text.
 *
 * @throws {UsageError} one line naming the line (and column) of the problem.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJamsocketToml } from "./jamsocket_toml.ts";
 *
 * const config = parseJamsocketToml('[service]\nbuild = "make"\nmodule = "out.wasm"\n');
 * assert.equal(config.module, "out.wasm");
 * assert.throws(() => parseJamsocketToml("[service\n"), /jamsocket\.toml line 1/);
 * ```
 */
export function parseJamsocketToml(text: string): JamsocketToml {
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const reason = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    throw new UsageError(
      `Invalid jamsocket.toml line ${error.line}, column ${error.column}: ${reason}`,
    );
  }
  const wrong = (key: string, expected: string): never => {
    const line = text.split("\n").findIndex((l) => new RegExp(`^\\s*${key}\\s*=`).test(l)) + 1;
    throw new UsageError(`Invalid jamsocket.toml line ${line}: "${key}" must be ${expected}`);
  };
  const string = (table: Record<string, unknown>, key: string): string | undefined => {
    const value = table[key];
    if (value === undefined || typeof value === "string") return value;
    return wrong(key, "a string");
  };
  const service = (document.service ?? {}) as Record<string, unknown>;
  if (typeof service !== "object" || Array.isArray(service)) wrong("service", "a table");
  for (const key of Object.keys(service)) {
    if (!SERVICE_KEYS.includes(key)) {
      wrong(key, `one of the [service] keys (${SERVICE_KEYS.join(", ")})`);
    }
  }
  const watch = service.watch;
  if (
    watch !== undefined && (!Array.isArray(watch) || watch.some((p) => typeof p !== "string"))
  ) {
    wrong("watch", "a list of paths");
  }
  const config: JamsocketToml = {
    staticFiles: string(document, "static_files"),
    package: string(service, "package"),
    roomStrategy: string(service, "room_strategy"),
    shutdownPolicy: string(service, "shutdown_policy"),
    build: string(service, "build"),
    module: string(service, "module"),
    watch: watch as string[] | undefined,
  };
  if (config.build !== undefined && config.module === undefined) {
    wrong("build", 'paired with "module", the file the build produces');
  }
  return config;
}

/**
 * Read `jamsocket.toml` from `dir`, or an empty config when there is none.
 *
 * @example
 * ```ts ignore
 * const config = await readJamsocketToml(".");
 * ```
 */
export async function readJamsocketToml(dir: string): Promise<JamsocketToml> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/jamsocket.toml`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw error;
  }
  return parseJamsocketToml(text);
}
