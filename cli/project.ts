/**
 * What `jamsocket dev` builds: a Cargo crate, an AssemblyScript project, a TypeScript service, or
 * whatever `jamsocket.toml` names, and how to build and load it.
 *
 * @module
 */

import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import type { Logger } from "../util/logger.ts";
import type { ServiceDefinition } from "../runtime/service_runtime.ts";
import { buildAssemblyScript } from "../wasm/asc.ts";
import { BuildError } from "../wasm/build_error.ts";
import { buildCargoWasm } from "../wasm/cargo.ts";
import { loadWasmService } from "../wasm/host.ts";
import type { JamsocketToml } from "./jamsocket_toml.ts";
import { isScriptPath, loadScriptService } from "./service_loader.ts";
import { type TypeScriptBuild, TypeScriptBuilder } from "./ts_build.ts";
import { UsageError } from "./usage_error.ts";

/** A successful build, loaded and ready to serve. */
export interface Build {
  /** The service to serve. */
  readonly service: ServiceDefinition;
  /** The file the service came from (the built module, or the TypeScript service). */
  readonly artifact: string;
  /** How long building and loading took. */
  readonly durationMs: number;
  /** What else to say about the build (type-checked, which cargo), if anything. */
  readonly summary?: string;
  /** For a TypeScript service: the modules it loaded afresh. */
  readonly modules?: string;
}

/** How a build loads WASM modules. */
export interface BuildContext {
  /** Where guest output goes. */
  readonly logger: Logger;
  /** Per-room memory ceiling for WASM rooms, in pages. */
  readonly maxMemoryPages?: number;
}

/** A project `jamsocket dev` can build, watch and reload. */
export interface Project {
  /** The project folder. */
  readonly dir: string;
  /** What it is, for the banner ("Rust crate", "AssemblyScript project", …). */
  readonly description: string;
  /** Paths to watch for changes. */
  readonly watch: readonly string[];
  /** True for a changed path that must not trigger a rebuild (build outputs). */
  ignores(path: string): boolean;
  /** Build (when there is anything to build) and load the service; `generation` counts builds. */
  build(generation: number, context: BuildContext): Promise<Build>;
  /** Release what builds left behind (copies of TypeScript modules). */
  close(): Promise<void>;
}

const ALWAYS_IGNORED = [".git", "node_modules"];
const done = () => Promise.resolve();

/**
 * Find the project in `dir`: `jamsocket.toml`'s `build`/`module`, else a `Cargo.toml`, else an
 * AssemblyScript project (`asconfig.json` or `assembly/index.ts`), else `service.ts`/`service.js`.
 *
 * @throws {UsageError} when the folder holds none of these.
 * @example
 * ```ts ignore
 * const project = await detectProject("examples/assemblyscript", {});
 * const { service } = await project.build(1, { logger });
 * ```
 */
export async function detectProject(dir: string, config: JamsocketToml): Promise<Project> {
  dir = resolve(dir);
  const watch = (config.watch ?? ["."]).map((path) => resolve(dir, path));
  const ignoring = (...outputs: string[]) => {
    const prefixes = [...ALWAYS_IGNORED.map((p) => join(dir, p)), ...outputs];
    return (path: string) =>
      prefixes.some((prefix) => path === prefix || path.startsWith(prefix + sep));
  };
  if (config.module !== undefined) {
    const module = resolve(dir, config.module);
    const command = config.build;
    if (isScriptPath(module) && !command) {
      return typeScriptProject(dir, module, `module ${config.module}`, watch, ignoring());
    }
    return {
      dir,
      description: command ? `custom build (${command})` : `module ${config.module}`,
      watch: command ? watch : [module],
      ignores: command ? ignoring(module) : ignoring(),
      build: (_generation, context) =>
        timed(async () => {
          if (command) await runBuildCommand(command, dir);
          return { service: await load(module, context), artifact: module };
        }),
      close: done,
    };
  }
  if (await exists(join(dir, "Cargo.toml"))) {
    let target = join(dir, "target");
    return {
      dir,
      description: `Rust crate${config.package ? ` (package ${config.package})` : ""}`,
      watch,
      ignores: (path) => ignoring(target)(path),
      build: (_generation, context) =>
        timed(async () => {
          const { wasmPath, notes } = await buildCargoWasm(dir, { package: config.package });
          target = targetDir(wasmPath) ?? target;
          const summary = notes.length > 0 ? notes.join("; ") : undefined;
          return { service: await load(wasmPath, context), artifact: wasmPath, summary };
        }),
      close: done,
    };
  }
  if (await exists(join(dir, "asconfig.json")) || await exists(join(dir, "assembly/index.ts"))) {
    return {
      dir,
      description: "AssemblyScript project",
      watch,
      ignores: ignoring(join(dir, "build")),
      build: (_generation, context) =>
        timed(async () => {
          const { wasmPath } = await buildAssemblyScript(dir);
          return { service: await load(wasmPath, context), artifact: wasmPath };
        }),
      close: done,
    };
  }
  for (const name of ["service.ts", "service.js"]) {
    const path = join(dir, name);
    if (!(await exists(path))) continue;
    return typeScriptProject(dir, path, `TypeScript service (${name})`, watch, ignoring());
  }
  throw new UsageError(
    `No service found in "${dir}": expected a Cargo.toml, an AssemblyScript project (asconfig.json or assembly/index.ts), a service.ts, or a jamsocket.toml naming a module`,
  );
}

/**
 * A TypeScript service: each build type-checks it and loads a fresh copy of its local module
 * graph (see `ts_build.ts`).
 */
function typeScriptProject(
  dir: string,
  entry: string,
  description: string,
  watch: string[],
  ignores: (path: string) => boolean,
): Project {
  const builder = new TypeScriptBuilder(entry, { dir, ignores });
  return {
    dir,
    description,
    watch,
    ignores,
    build: (generation) =>
      timed(async () => {
        const build = await builder.build(generation);
        const checked = build.checkMs === undefined
          ? "not type-checked (no deno on PATH)"
          : `type-checked in ${(build.checkMs / 1000).toFixed(2)} s`;
        return {
          service: build.service,
          artifact: entry,
          summary: checked,
          modules: describeModules(build),
        };
      }),
    close: () => builder.close(),
  };
}

/** "service.ts, greeting.ts (kept 12 modules from outside the project)" */
function describeModules(build: TypeScriptBuild): string {
  const shown = build.reloaded.slice(0, 6).join(", ") +
    (build.reloaded.length > 6 ? ` and ${build.reloaded.length - 6} more` : "");
  const kept = build.kept === 0
    ? ""
    : ` (kept ${build.kept} module${build.kept === 1 ? "" : "s"} from outside the project)`;
  return `${shown}${kept}`;
}

/** Load a built module, or a script named by `jamsocket.toml` next to a build command. */
async function load(path: string, context: BuildContext): Promise<ServiceDefinition> {
  if (isScriptPath(path)) return await loadScriptService(path);
  if (extname(path) !== ".wasm") {
    throw new UsageError(`Cannot serve "${path}": expected a .wasm module or a .ts/.js module`);
  }
  return await loadWasmService(await Deno.readFile(path), {
    name: basename(path),
    logger: context.logger,
    maxMemoryPages: context.maxMemoryPages,
  });
}

/** Run a `jamsocket.toml` build command in the project folder; its output on failure. */
async function runBuildCommand(command: string, dir: string): Promise<void> {
  const shell = Deno.build.os === "windows" ? ["cmd", "/c"] : ["sh", "-c"];
  const { code, stdout, stderr } = await new Deno.Command(shell[0], {
    args: [shell[1], command],
    cwd: dir,
    stdin: "null",
  }).output();
  if (code !== 0) {
    const decoder = new TextDecoder();
    throw new BuildError(
      `Build command "${command}" failed in "${dir}" (exit code ${code})`,
      decoder.decode(stdout) + decoder.decode(stderr),
    );
  }
}

async function timed(build: () => Promise<Omit<Build, "durationMs">>): Promise<Build> {
  const started = performance.now();
  const result = await build();
  return { ...result, durationMs: performance.now() - started };
}

/** The `target` folder a Cargo artifact lives under. */
function targetDir(artifact: string): string | undefined {
  for (let dir = dirname(artifact); dir !== dirname(dir); dir = dirname(dir)) {
    if (basename(dir) === "target") return dir;
  }
  return undefined;
}

function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}

/** A path relative to `dir` for messages, or the path itself when it is outside. */
export function shortPath(dir: string, path: string): string {
  const rel = relative(dir, path);
  return rel.startsWith("..") ? path : rel;
}
