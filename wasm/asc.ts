/**
 * The AssemblyScript toolchain driver behind `jamsocket dev`: compiles an AssemblyScript service
 * project to a Jamsocket WebAssembly module (WASM_ABI.md) with the `assemblyscript` npm package,
 * in-process, and returns the path of the module.
 *
 * The project imports the guest SDK as `jamsocket` (`import { JamsocketService } from "jamsocket"`
 * and `export * from "jamsocket/exports"`). The SDK's sources are embedded in this module (text
 * imports, so `deno compile` carries them) and served to the compiler from a virtual package
 * folder through its `readFile` hook: the project builds wherever it lives, with no `node_modules`.
 *
 * The driver adds the options the SDK needs, after the project's `asconfig.json` (command-line
 * options win over the config in `asc`):
 *
 * - `--path <virtual folder>`: resolves `jamsocket` and `jamsocket/*` to the SDK.
 * - `--use abort=…`, `--use trace=…`, `--use seed=…`: no `env.abort`/`env.trace`/`env.seed`
 *   imports; abort traps, trace goes to stderr and seed to WASI `random_get` (only when used).
 * - `--exportStart _initialize`: the entry file's top-level code (which calls `register()`) runs
 *   when the host calls `_initialize`, after it has bound memory and before `initialize`.
 * - `--runtime incremental` and `-O3` unless the config chooses a runtime or optimization levels.
 * - `--outFile build/service.wasm` unless the config (or `options.outFile`) names one.
 *
 * @module
 */

import { dirname, join, relative, resolve, sep as SEPARATOR } from "node:path";
import { BuildError } from "./build_error.ts";
import sdkHost from "./assemblyscript/_host.ts" with { type: "text" };
import sdkExports from "./assemblyscript/exports.ts" with { type: "text" };
import sdkIndex from "./assemblyscript/index.ts" with { type: "text" };
import sdkJamsocket from "./assemblyscript/jamsocket.ts" with { type: "text" };

/**
 * The `assemblyscript` version the driver compiles with (pinned: the SDK is tested against it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ASSEMBLYSCRIPT_VERSION } from "./asc.ts";
 *
 * assert.match(ASSEMBLYSCRIPT_VERSION, /^\d+\.\d+\.\d+$/);
 * ```
 */
export const ASSEMBLYSCRIPT_VERSION = "0.28.20";

/** The SDK's files, by their path inside the virtual `jamsocket` package. */
const SDK_FILES: Readonly<Record<string, string>> = {
  "index.ts": sdkIndex,
  "jamsocket.ts": sdkJamsocket,
  "exports.ts": sdkExports,
  "_host.ts": sdkHost,
};

/** The virtual folder holding the `jamsocket` package, relative to the project. */
const SDK_ROOT = ".jamsocket-sdk";
/** A virtual entry that pulls the SDK's runtime hooks into every build, for `--use`. */
const SDK_ENTRY = "_entry.ts";
const SDK_ENTRY_SOURCE = 'import { abort, seed, trace } from "jamsocket/_host";\n';
const DEFAULT_ENTRY = "assembly/index.ts";
const DEFAULT_OUT_FILE = "build/service.wasm";

const REQUIRED_EXPORTS = [
  "memory",
  "jam_malloc",
  "jam_free",
  "initialize",
  "JAMSOCKET_API_VERSION",
  "JAMSOCKET_API_PROTOCOL",
] as const;
const HOST_IMPORTS: ReadonlySet<string> = new Set(["send_message", "send_binary", "set_timer"]);
const WASI_MODULE = "wasi_snapshot_preview1";

/**
 * Options for {@linkcode buildAssemblyScript}.
 *
 * @example A quick, unoptimized build to a path of one's own
 * ```ts
 * import type { BuildAssemblyScriptOptions } from "./asc.ts";
 *
 * const options: BuildAssemblyScriptOptions = { optimize: false, outFile: "build/dev.wasm" };
 * ```
 */
export interface BuildAssemblyScriptOptions {
  /**
   * Where to write the module, relative to the project folder (or absolute). Overrides the
   * `outFile` of `asconfig.json`.
   *
   * @default the config's `outFile`, else `"build/service.wasm"`
   */
  outFile?: string;
  /**
   * The `asconfig.json` target whose options apply.
   *
   * @default {"release"}
   */
  target?: string;
  /**
   * Optimize with `-O3` when the config sets no optimization level of its own. `false` builds
   * faster and bigger.
   *
   * @default {true}
   */
  optimize?: boolean;
  /**
   * Colour the compiler's diagnostics with ANSI escapes (for a terminal).
   *
   * @default {false}
   */
  colors?: boolean;
}

/**
 * What {@linkcode buildAssemblyScript} built.
 *
 * @example
 * ```ts ignore
 * const build: AssemblyScriptBuild = await buildAssemblyScript("examples/assemblyscript");
 * if (build.output) console.warn(build.output);
 * ```
 */
export interface AssemblyScriptBuild {
  /** The absolute path of the compiled module. */
  wasmPath: string;
  /** How long the build took, in milliseconds (loading the compiler included). */
  durationMs: number;
  /** The compiler's warnings, as `asc` prints them; empty when there are none. */
  output: string;
}

/** The part of the `assemblyscript/asc` module the driver uses. */
interface AscOutput {
  write(chunk: Uint8Array | string): void;
  toString(): string;
}
interface Asc {
  createMemoryStream(): AscOutput;
  main(argv: string[], options: {
    stdout: AscOutput;
    stderr: AscOutput;
    readFile(filename: string, baseDir: string): Promise<string | null>;
    writeFile(filename: string, contents: Uint8Array | string, baseDir: string): Promise<void>;
    listFiles(dirname: string, baseDir: string): Promise<string[] | null>;
  }): Promise<{ error: Error | null }>;
}

let compiler: Promise<Asc> | undefined;
let queue: Promise<unknown> = Promise.resolve();

/**
 * Compile the AssemblyScript service in `projectDir` to a Jamsocket module.
 *
 * The entries come from `asconfig.json` (with its `extends`, targets and options, as `asc` reads
 * it) or, without entries there, from `assembly/index.ts`. Builds run one at a time. The module
 * is checked after compiling: it must export the ABI (`memory`, `jam_malloc`, `jam_free`,
 * `initialize`, the version globals) and import nothing but the host's `env` functions and WASI.
 *
 * @param projectDir The project folder (holding `asconfig.json` and/or `assembly/index.ts`).
 * @param options Output path, target and optimization; see {@linkcode BuildAssemblyScriptOptions}.
 * @returns The absolute path of the module, the build time and the compiler's warnings.
 * @throws {BuildError} When the project does not compile or does not make a Jamsocket module; the
 * error's `output` is the compiler's diagnostics as `asc` prints them.
 *
 * @example Build the example counter
 * ```ts ignore
 * import { buildAssemblyScript } from "./asc.ts";
 *
 * const { wasmPath, durationMs } = await buildAssemblyScript("examples/assemblyscript");
 * console.log(`built ${wasmPath} in ${durationMs} ms`);
 * ```
 */
export function buildAssemblyScript(
  projectDir: string,
  options: BuildAssemblyScriptOptions = {},
): Promise<AssemblyScriptBuild> {
  const build = queue.then(() => buildNow(resolve(projectDir), options));
  queue = build.catch(() => {});
  return build;
}

async function buildNow(
  projectDir: string,
  options: BuildAssemblyScriptOptions,
): Promise<AssemblyScriptBuild> {
  const started = performance.now();
  const fail = (output: string, detail?: string, cause?: unknown): BuildError =>
    new BuildError(
      `AssemblyScript build failed in "${projectDir}"${detail ? `: ${detail}` : ""}`,
      output,
      cause === undefined ? undefined : { cause },
    );

  try {
    if (!(await Deno.stat(projectDir)).isDirectory) throw fail("", "not a folder");
  } catch (error) {
    if (error instanceof BuildError) throw error;
    throw fail(String(error), "cannot read the folder", error);
  }

  let asc: Asc;
  try {
    asc = await loadCompiler();
  } catch (error) {
    compiler = undefined;
    throw fail(String(error), `cannot load assemblyscript@${ASSEMBLYSCRIPT_VERSION}`, error);
  }

  const sdkRoot = join(projectDir, SDK_ROOT);
  const outputs: string[] = [];
  /** The project's sources the compiler read, to point at a foreign import's use. */
  const sources = new Map<string, string>();
  const hooks = {
    readFile: async (filename: string, baseDir: string) => {
      const path = resolve(baseDir, filename);
      const text = await readSource(sdkRoot, path);
      if (text !== null && sdkPath(sdkRoot, path) === undefined) sources.set(path, text);
      return text;
    },
    writeFile: async (filename: string, contents: Uint8Array | string, baseDir: string) => {
      const path = resolve(baseDir, filename);
      await Deno.mkdir(dirname(path), { recursive: true });
      if (typeof contents === "string") await Deno.writeTextFile(path, contents);
      else await Deno.writeFile(path, contents);
      outputs.push(path);
    },
    listFiles: (dir: string, baseDir: string) => listSources(sdkRoot, resolve(baseDir, dir)),
  };
  const run = async (argv: string[]): Promise<{ error: Error | null; output: string }> => {
    const stdout = asc.createMemoryStream();
    const stderr = asc.createMemoryStream();
    try {
      const { error } = await asc.main(argv, { stdout, stderr, ...hooks });
      return { error, output: `${stdout.toString()}${stderr.toString()}`.trim() };
    } catch (error) {
      const output = `${stdout.toString()}${stderr.toString()}`.trim();
      return { error: error as Error, output: output || String(error) };
    }
  };

  const target = options.target ?? "release";
  const common = ["--baseDir", projectDir, "--target", target];
  if (!options.colors) common.push("--noColors");

  // What asconfig.json (and what it extends) says, as asc merges it. Without an entry, asc would
  // print its usage instead: the virtual entry stands in and is dropped from the answer.
  const shown = await run([...common, `${SDK_ROOT}/${SDK_ENTRY}`, "--showConfig"]);
  if (shown.error) throw fail(shown.output, undefined, shown.error);
  const config = parseShownConfig(shown.output);
  if (!config) throw fail(shown.output, "cannot read asconfig.json");

  const argv = [...common];
  if (config.entries.length === 1) {
    if (!(await exists(join(projectDir, DEFAULT_ENTRY)))) {
      throw fail("", `no "entries" in asconfig.json and no ${DEFAULT_ENTRY}`);
    }
    argv.push(DEFAULT_ENTRY);
  }
  argv.push(`${SDK_ROOT}/${SDK_ENTRY}`);
  argv.push("--path", sdkRoot);
  argv.push("--use", "abort=~lib/jamsocket/_host/abort");
  argv.push("--use", "trace=~lib/jamsocket/_host/trace");
  argv.push("--use", "seed=~lib/jamsocket/_host/seed");
  argv.push("--exportStart", "_initialize");
  if (config.options.runtime === undefined) argv.push("--runtime", "incremental");
  const optimization = ["optimize", "optimizeLevel", "shrinkLevel"];
  if (options.optimize !== false && optimization.every((key) => !(key in config.options))) {
    argv.push("--optimizeLevel", "3", "--shrinkLevel", "0");
  }
  if (options.outFile !== undefined) argv.push("--outFile", resolve(projectDir, options.outFile));
  else if (config.options.outFile === undefined) argv.push("--outFile", DEFAULT_OUT_FILE);

  const built = await run(argv);
  if (built.error) throw fail(built.output, undefined, built.error);
  const wasmPath = outputs.find((path) => path.endsWith(".wasm"));
  if (!wasmPath) throw fail(built.output, "the compiler wrote no .wasm file");

  const problem = await checkModule(wasmPath, (name) => locateUse(name, projectDir, sources));
  if (problem) {
    const output = [built.output, ...problem.more].filter(Boolean).join("\n");
    throw problem.located ? new BuildError(problem.message, output) : fail(output, problem.message);
  }
  const durationMs = Math.round(performance.now() - started);
  return { wasmPath, durationMs, output: built.output };
}

function loadCompiler(): Promise<Asc> {
  compiler ??= import("npm:assemblyscript@0.28.20/asc").then((module) =>
    module.default as unknown as Asc
  );
  return compiler;
}

/** Read a source for the compiler: the embedded SDK under `sdkRoot`, else the disk; null if absent. */
async function readSource(sdkRoot: string, path: string): Promise<string | null> {
  const inSdk = sdkPath(sdkRoot, path);
  if (inSdk !== undefined) {
    if (inSdk === SDK_ENTRY) return SDK_ENTRY_SOURCE;
    const file = inSdk.startsWith(`jamsocket/`) ? inSdk.slice("jamsocket/".length) : undefined;
    return (file !== undefined && SDK_FILES[file]) || null;
  }
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory) {
      return null;
    }
    throw error;
  }
}

/** List the `.ts` files of a folder for the compiler (its `--lib` option). */
async function listSources(sdkRoot: string, dir: string): Promise<string[] | null> {
  const inSdk = sdkPath(sdkRoot, dir);
  if (inSdk === "jamsocket") return Object.keys(SDK_FILES);
  if (inSdk !== undefined) return null;
  try {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        names.push(entry.name);
      }
    }
    return names;
  } catch {
    return null;
  }
}

/** `path` relative to the virtual SDK folder, with `/` separators, or undefined if outside. */
function sdkPath(sdkRoot: string, path: string): string | undefined {
  if (path !== sdkRoot && !path.startsWith(sdkRoot + SEPARATOR)) return undefined;
  return relative(sdkRoot, path).split(SEPARATOR).join("/");
}

interface ShownConfig {
  options: Record<string, unknown>;
  entries: string[];
}

/** Parse the JSON `asc --showConfig` prints; undefined if it printed something else. */
function parseShownConfig(output: string): ShownConfig | undefined {
  try {
    const shown = JSON.parse(output.slice(output.indexOf("{"))) as Partial<ShownConfig>;
    return { options: shown.options ?? {}, entries: shown.entries ?? [] };
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** A module the host would refuse: the first problem as one line, and one line for each other. */
interface ModuleProblem {
  message: string;
  more: string[];
  /** The message starts with the `file:line:column` it is about. */
  located?: boolean;
}

/** Check what the host will check at load time; the problem, or undefined. */
async function checkModule(
  wasmPath: string,
  locate: (name: string) => string | undefined,
): Promise<ModuleProblem | undefined> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(await Deno.readFile(wasmPath));
  } catch (error) {
    return {
      message: `"${wasmPath}" is not a valid WebAssembly module: ${describe(error)}`,
      more: [],
    };
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((entry) => entry.name));
  const missing = REQUIRED_EXPORTS.filter((name) => !exported.has(name));
  if (missing.length > 0) {
    return {
      message: `the module does not export ${missing.map((name) => `"${name}"`).join(", ")}: ` +
        `add export * from "jamsocket/exports" to the entry file`,
      more: [],
    };
  }
  const foreign = WebAssembly.Module.imports(module).filter((entry) =>
    entry.module === WASI_MODULE ? false : entry.module !== "env" || !HOST_IMPORTS.has(entry.name)
  );
  if (foreign.length === 0) return undefined;
  const lines = foreign.map((entry) => {
    const where = entry.module === "env" ? locate(entry.name) : undefined;
    const hint = /^console\./.test(entry.name)
      ? `; log with trace("…") instead, which the server logs with the room id`
      : " (a standard library binding such as Date?)";
    return `${
      where ? `${where}: ` : ""
    }"${entry.name}" needs the import "${entry.module}.${entry.name}", which the Jamsocket host does not provide${hint}`;
  });
  return { message: lines[0], more: lines.slice(1), located: /^\S+:\d+:\d+: /.test(lines[0]) };
}

/**
 * Where the project's sources first use `name` (an import such as `console.log`), as
 * `file:line:column` relative to the project; undefined when no source shows it.
 */
function locateUse(
  name: string,
  projectDir: string,
  sources: ReadonlyMap<string, string>,
): string | undefined {
  const pattern = new RegExp(`\\b${name.split(".").map(RegExp.escape).join("\\s*\\.\\s*")}\\b`);
  for (const [path, text] of sources) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (/^\s*(\/\/|\*|\/\*)/.test(lines[i])) continue;
      const match = pattern.exec(lines[i]);
      if (match) return `${relative(projectDir, path)}:${i + 1}:${match.index + 1}`;
    }
  }
  return undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
