/**
 * `jamsocket dev [DIR]`: build the service in a folder, serve it, watch the sources, rebuild and
 * hot-reload; and `jamsocket build [DIR]`, which only builds.
 *
 * @module
 */

import { resolve } from "node:path";
import { consoleLogger, type Logger } from "../util/logger.ts";
import { type JamsocketServer, serve } from "../server.ts";
import { BuildError } from "../wasm/build_error.ts";
import { devPageFallback } from "./dev_page.ts";
import { readJamsocketToml } from "./jamsocket_toml.ts";
import { parseFlags } from "./parse.ts";
import {
  type Build,
  type BuildContext,
  detectProject,
  type Project,
  shortPath,
} from "./project.ts";
import {
  maxMemoryPagesFrom,
  SERVE_FLAGS,
  SERVE_FLAGS_HELP,
  type ServeFlagValues,
  serveOptionsFrom,
} from "./serve_flags.ts";
import { onShutdownSignal } from "./signals.ts";
import { UsageError } from "./usage_error.ts";
import { ChangeWatcher } from "./watcher.ts";

const PROJECTS_HELP = `Arguments:
  [DIR]  The service's folder [default: .]: a Cargo crate (built for wasm32-wasip1, or
         wasm32-wasi on older toolchains), an AssemblyScript project (asconfig.json or
         assembly/index.ts), a service.ts, or a jamsocket.toml whose [service] names a
         build command and the module it makes`;

/** Help for `jamsocket dev`. */
export const DEV_HELP =
  `Build a service, serve it, and rebuild and hot-reload it when its sources change

Usage: jamsocket dev [OPTIONS] [DIR]

${PROJECTS_HELP}

Options:${SERVE_FLAGS_HELP}
      --no-watch                        Build and serve once; do not watch
  -h, --help                            Print help`;

/** Help for `jamsocket build`. */
export const BUILD_HELP = `Build a service and print the path of the module it made

Usage: jamsocket build [DIR]

${PROJECTS_HELP}

Options:
  -h, --help  Print help`;

/**
 * Run `jamsocket dev` with the arguments after `dev`; resolves with the exit code once the server
 * has stopped (SIGINT/SIGTERM), or 1 when the first build fails.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await devCommand(["examples/assemblyscript"]));
 * ```
 */
export async function devCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    ...SERVE_FLAGS,
    "no-watch": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(DEV_HELP);
    return 0;
  }
  const dir = folderFrom(positionals);
  const config = await readJamsocketToml(dir);
  const flags = values as ServeFlagValues;
  const options = serveOptionsFrom({
    rooms: config.roomStrategy,
    "shutdown-policy": config.shutdownPolicy,
    static: config.staticFiles && resolve(dir, config.staticFiles),
    ...definedOnly(flags),
  });
  const project = await detectProject(dir, config);
  const logger = consoleLogger();
  const context: BuildContext = { logger, maxMemoryPages: maxMemoryPagesFrom(flags) };

  let generation = 1;
  console.log(`Building ${project.description} in ${project.dir} …`);
  const first = await tryBuild(project, generation, context, logger);
  if (first === undefined) return 1;
  console.log(describeBuild("Built", project, first));
  const server = serve(first.service, {
    ...options,
    logger,
    fallback: options.staticDir ? undefined : devPageFallback,
    onListen: (addr) => console.log(banner(addr, options.staticDir === undefined)),
  });

  let watcher: ChangeWatcher | undefined;
  if (!values["no-watch"]) {
    const rebuild = serialized(async (changed: string[]) => {
      const what = changed.map((path) => shortPath(project.dir, path)).slice(0, 3).join(", ");
      console.log(`Changed: ${what}${changed.length > 3 ? ", …" : ""}; rebuilding …`);
      const build = await tryBuild(project, ++generation, context, logger);
      if (build === undefined) {
        console.error("Still serving the last good build.");
        return;
      }
      await reload(server, project, build);
    });
    watcher = new ChangeWatcher(project.watch, (path) => project.ignores(path), rebuild);
    console.log("Watching for changes; Ctrl-C to stop.");
  }
  onShutdownSignal(async () => {
    watcher?.close();
    await server.shutdown();
  });
  await server.finished;
  return 0;
}

/**
 * Run `jamsocket build`: build the project in DIR once and print the module's path.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await buildCommand(["examples/wasm/rust/counter"]));
 * ```
 */
export async function buildCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { help: { type: "boolean", short: "h" } });
  if (values.help) {
    console.log(BUILD_HELP);
    return 0;
  }
  const dir = folderFrom(positionals);
  const project = await detectProject(dir, await readJamsocketToml(dir));
  const logger = consoleLogger();
  const build = await tryBuild(project, 1, { logger }, logger);
  if (build === undefined) return 1;
  console.error(describeBuild("Built", project, build));
  console.log(build.artifact);
  return 0;
}

async function reload(server: JamsocketServer, project: Project, build: Build): Promise<void> {
  const closed = await server.handler.replaceService(build.service);
  const rooms = closed === 1 ? "1 open room" : `${closed} open rooms`;
  console.log(`${describeBuild("Rebuilt", project, build)}; reloaded, ${rooms} restarted (1012)`);
}

/** Build, printing the compiler's output and one error line on failure. */
async function tryBuild(
  project: Project,
  generation: number,
  context: BuildContext,
  logger: Logger,
): Promise<Build | undefined> {
  try {
    return await project.build(generation, context);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof BuildError && error.output.trim()) console.error(error.output.trimEnd());
    logger.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function describeBuild(verb: string, project: Project, build: Build): string {
  const seconds = (build.durationMs / 1000).toFixed(2);
  return `${verb} ${project.description} in ${seconds} s: ${
    shortPath(project.dir, build.artifact)
  }`;
}

function banner(addr: Deno.NetAddr, devPage: boolean): string {
  const host = addr.hostname === "0.0.0.0" ? "localhost" : addr.hostname;
  const base = `${host}:${addr.port}`;
  return [
    `Jamsocket dev server listening on http://${base}`,
    `  status    http://${base}/status`,
    `  rooms     ws://${base}/ws/{room}`,
    devPage ? `  dev page  http://${base}/` : `  static    http://${base}/`,
  ].join("\n");
}

function folderFrom(positionals: string[]): string {
  if (positionals.length > 1) {
    throw new UsageError(`Found argument '${positionals[1]}' which wasn't expected`);
  }
  return resolve(positionals[0] ?? ".");
}

function definedOnly(values: ServeFlagValues): ServeFlagValues {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

/** Run `task` for each call, one at a time; calls made meanwhile collapse into one more run. */
function serialized(task: (changed: string[]) => Promise<void>): (changed: string[]) => void {
  let running = false;
  let queued: string[] | undefined;
  const run = async (changed: string[]) => {
    running = true;
    try {
      await task(changed);
    } finally {
      running = false;
      if (queued) {
        const next = queued;
        queued = undefined;
        void run(next);
      }
    }
  };
  return (changed) => {
    if (running) queued = [...(queued ?? []), ...changed];
    else void run(changed);
  };
}
