/**
 * How `jamsocket dev` builds a TypeScript service: type-check it with `deno check`, then load a
 * fresh copy of its whole local module graph, so that an edit to any module it imports takes
 * effect.
 *
 * Deno caches every module it has imported for the life of the process, by URL; importing
 * `service.ts?v=2` re-runs `service.ts` but not the `./greeting.ts` it imports. So each build
 * copies the project's modules of the graph (as `deno info --json` resolves it, with the
 * project's own `deno.json`) into a folder of its own, `…/g<N>/`, keeping their layout, and
 * rewrites each import in the copies to where it resolved: a project module to its copy, anything
 * else (the framework, `npm:`, `jsr:`, files outside the project) to its resolved specifier, which
 * stays cached and shared. The new copy's entry is then imported.
 *
 * Alternatives measured or weighed: a `Worker` per build imports a fresh graph, but the service's
 * class cannot leave the worker, and rooms running in a worker would behave differently from
 * `serve` (every event a `postMessage`); a query-versioned URL reloads only the entry.
 *
 * What this does not reload: modules outside the project folder (they are not watched either),
 * and files read at run time relative to `import.meta.url`, which point into the copy (read them
 * relative to the project folder, or import them: JSON and text imports are copied).
 *
 * @module
 */

import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { ServiceDefinition } from "../runtime/service_runtime.ts";
import { BuildError } from "../wasm/build_error.ts";
import {
  cleanOutput,
  displayPath,
  formatDiagnostic,
  importDiagnostic,
  parseDenoCheck,
} from "./diagnostics.ts";
import { UsageError } from "./usage_error.ts";

/** What one build of a TypeScript service produced. */
export interface TypeScriptBuild {
  /** The service, from the fresh copy. */
  readonly service: ServiceDefinition;
  /** The project's modules that were reloaded, relative to the project folder. */
  readonly reloaded: readonly string[];
  /** Modules of the graph outside the project, kept from the cache. */
  readonly kept: number;
  /** Milliseconds `deno check` took, or undefined when there was no `deno` to run. */
  readonly checkMs: number | undefined;
}

/** Options of {@linkcode TypeScriptBuilder}. */
export interface TypeScriptBuilderOptions {
  /** The project folder: modules under it are reloaded. */
  readonly dir: string;
  /** True for paths under `dir` that are not the project's own (build outputs, `node_modules`). */
  readonly ignores: (path: string) => boolean;
  /** The `deno` binary. @default {this Deno, or `deno` on PATH} */
  readonly deno?: string;
}

interface Span {
  start: { line: number; character: number };
  end: { line: number; character: number };
}
interface Resolution {
  specifier?: string;
  span?: Span;
}
interface GraphModule {
  specifier: string;
  local?: string;
  error?: string;
  dependencies?: { specifier: string; code?: Resolution; type?: Resolution }[];
}

/**
 * Builds one TypeScript service, generation after generation.
 *
 * @example
 * ```ts ignore
 * const builder = new TypeScriptBuilder("service.ts", { dir: ".", ignores: () => false });
 * const { service, reloaded } = await builder.build(1);
 * await builder.close();
 * ```
 */
export class TypeScriptBuilder {
  readonly #entry: string;
  readonly #options: TypeScriptBuilderOptions;
  readonly #deno: string | undefined;
  #root: string | undefined;

  /** A builder for the service module `entry`. */
  constructor(entry: string, options: TypeScriptBuilderOptions) {
    this.#entry = resolve(entry);
    this.#options = { ...options, dir: resolve(options.dir) };
    this.#deno = options.deno ?? findDeno();
  }

  /** Whether builds are type-checked (there is a `deno` to run). */
  get checks(): boolean {
    return this.#deno !== undefined;
  }

  /**
   * A path inside a copy, as the path of its original (for messages); others unchanged.
   */
  readonly original = (path: string): string => {
    if (this.#root === undefined || !path.startsWith(this.#root + sep)) return path;
    const rest = relative(this.#root, path).split(sep).slice(1);
    return join(this.#options.dir, ...rest);
  };

  /** Shown paths: relative to the current folder, copies as their originals. */
  readonly #show = (pathOrUrl: string): string => displayPath(pathOrUrl, this.original);

  /**
   * Type-check and load generation `generation` of the service.
   *
   * @throws {BuildError} with the first diagnostic as the message (`file:line:column: …`) and
   * every diagnostic in `output`, when the check fails or the module throws while loading.
   * @throws {UsageError} when the module has no service as its default export.
   */
  async build(generation: number): Promise<TypeScriptBuild> {
    if (this.#deno === undefined) {
      const url = pathToFileURL(this.#entry);
      url.searchParams.set("v", String(generation));
      return {
        service: await this.#import(url.href),
        reloaded: [relative(this.#options.dir, this.#entry)],
        kept: 0,
        checkMs: undefined,
      };
    }
    const started = performance.now();
    const [check, info] = await Promise.all([
      this.#run(["check", "--quiet", this.#entry]),
      this.#run(["info", "--json", this.#entry]),
    ]);
    const checkMs = performance.now() - started;
    if (!check.success) {
      const diagnostics = parseDenoCheck(check.output, this.#show);
      const first = diagnostics[0];
      const headline = first
        ? formatDiagnostic(first)
        : `Type check of ${this.#show(this.#entry)} failed`;
      const output = cleanOutput(check.output, this.#show).replace(
        /\n*error: Type checking failed\.$/,
        "",
      );
      throw new BuildError(headline, output);
    }
    let graph: GraphModule[];
    try {
      graph = (JSON.parse(info.stdout) as { modules: GraphModule[] }).modules;
    } catch (error) {
      throw new BuildError(
        `Cannot read the module graph of ${this.#show(this.#entry)}`,
        info.output,
        {
          cause: error,
        },
      );
    }
    const local = new Map<string, GraphModule>();
    for (const module of graph) {
      if (module.local !== undefined && this.#isProjects(module.local)) {
        local.set(module.specifier, module);
      }
    }
    this.#root ??= await Deno.makeTempDir({ prefix: "jamsocket-dev-ts-" });
    const copyDir = join(this.#root, `g${generation}`);
    for (const module of local.values()) await this.#copy(module, local, copyDir);
    const service = await this.#import(this.#copyOf(this.#entry, copyDir));
    const entry = relative(this.#options.dir, this.#entry);
    await this.#removeGenerationsBefore(generation);
    return {
      service,
      reloaded: [...local.values()].map((module) => relative(this.#options.dir, module.local!))
        .sort((a, b) => Number(b === entry) - Number(a === entry) || a.localeCompare(b)),
      kept: graph.length - local.size,
      checkMs,
    };
  }

  /** Remove the copies. */
  async close(): Promise<void> {
    if (this.#root !== undefined) {
      await Deno.remove(this.#root, { recursive: true }).catch(() => {});
    }
  }

  #isProjects(path: string): boolean {
    const dir = this.#options.dir;
    return path.startsWith(dir + sep) && !this.#options.ignores(path);
  }

  #copyOf(path: string, copyDir: string): string {
    return join(copyDir, relative(this.#options.dir, path));
  }

  /** Copy one module into `copyDir`, its imports rewritten to where they resolved. */
  async #copy(
    module: GraphModule,
    local: Map<string, GraphModule>,
    copyDir: string,
  ): Promise<void> {
    const path = module.local!;
    const target = this.#copyOf(path, copyDir);
    await Deno.mkdir(dirname(target), { recursive: true });
    if (!module.dependencies?.length) {
      await Deno.copyFile(path, target);
      return;
    }
    const edits: { span: Span; text: string }[] = [];
    const seen = new Set<string>();
    for (const dependency of module.dependencies) {
      for (const resolution of [dependency.code, dependency.type]) {
        const { span, specifier: resolved } = resolution ?? {};
        if (!span || !resolved) continue;
        const key = `${span.start.line}:${span.start.character}`;
        if (seen.has(key)) continue;
        seen.add(key);
        edits.push({
          span,
          text: JSON.stringify(rewritten(dependency.specifier, resolved, path, local)),
        });
      }
    }
    await Deno.writeTextFile(target, applyEdits(await Deno.readTextFile(path), edits));
  }

  async #import(url: string): Promise<ServiceDefinition> {
    let module;
    try {
      module = await import(url.startsWith("file:") ? url : pathToFileURL(url).href);
    } catch (error) {
      const diagnostic = importDiagnostic(error, this.#show);
      const stack = error instanceof Error ? error.stack ?? String(error) : String(error);
      throw new BuildError(formatDiagnostic(diagnostic), cleanOutput(stack, this.#show), {
        cause: error,
      });
    }
    const service = module.default;
    if (typeof service !== "function") {
      throw new UsageError(
        `Cannot load service "${
          this.#show(this.#entry)
        }": its default export must be a service class or factory, found ${
          service === undefined ? "no default export" : typeof service
        }`,
      );
    }
    return service;
  }

  async #removeGenerationsBefore(generation: number): Promise<void> {
    for await (const entry of Deno.readDir(this.#root!)) {
      const n = /^g(\d+)$/.exec(entry.name);
      if (n && Number(n[1]) < generation) {
        await Deno.remove(join(this.#root!, entry.name), { recursive: true }).catch(() => {});
      }
    }
  }

  /** Run `deno args`: its standard output, and what it said besides its download progress. */
  async #run(args: string[]): Promise<{ success: boolean; stdout: string; output: string }> {
    const result = await new Deno.Command(this.#deno!, {
      args,
      cwd: this.#options.dir,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    const stdout = decoder.decode(result.stdout);
    // On a cold cache Deno reports each fetch on stderr ("Download https://…"); those are not
    // output of the check, and are not the graph.
    const said = decoder.decode(result.stderr).replace(/^Download \S+\n?/gm, "");
    return { success: result.success, stdout, output: stdout + said };
  }
}

/** The specifier a copy imports: a project module by relative path, the rest as resolved. */
function rewritten(
  original: string,
  resolved: string,
  from: string,
  local: Map<string, GraphModule>,
): string {
  const target = local.get(resolved)?.local;
  if (target !== undefined) {
    const path = relative(dirname(from), target).split(sep).join("/");
    return path.startsWith(".") ? path : `./${path}`;
  }
  // A full specifier (npm:, jsr:, node:, https:, file:) works from anywhere: keep it as written.
  return /^[a-z][a-z0-9+.-]*:/i.test(original) ? original : resolved;
}

/** Replace each span (0-based lines, columns in code points) of `source` by its text. */
function applyEdits(source: string, edits: { span: Span; text: string }[]): string {
  const lineStarts = [0];
  for (let i = 0; i < source.length; i++) if (source[i] === "\n") lineStarts.push(i + 1);
  const offset = ({ line, character }: { line: number; character: number }) => {
    let at = lineStarts[line] ?? source.length;
    for (let c = 0; c < character && at < source.length; c++) {
      at += (source.codePointAt(at) ?? 0) > 0xffff ? 2 : 1;
    }
    return at;
  };
  const sorted = edits.map((edit) => ({
    ...edit,
    from: offset(edit.span.start),
    to: offset(edit.span.end),
  }))
    .sort((a, b) => b.from - a.from);
  let out = source;
  for (const { from, to, text } of sorted) out = out.slice(0, from) + text + out.slice(to);
  return out;
}

/** This Deno when it is `deno` (not a compiled binary), else `deno` on PATH, else undefined. */
function findDeno(): string | undefined {
  const exe = Deno.execPath();
  if (/^deno(\.exe)?$/.test(basename(exe))) return exe;
  for (const dir of (Deno.env.get("PATH") ?? "").split(Deno.build.os === "windows" ? ";" : ":")) {
    for (const name of Deno.build.os === "windows" ? ["deno.exe"] : ["deno"]) {
      try {
        if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return undefined;
}
