/**
 * `jamsocket dev [DIR]`: build the service in a folder, serve it, watch the sources, rebuild and
 * hot-reload; and `jamsocket build [DIR]`, which only builds.
 *
 * @module
 */

import { resolve } from "node:path";
import { CLIENT_SCRIPT_PATH, clientScriptResponse } from "../client/client_script.ts";
import { textResponse } from "../http/http_error.ts";
import { RoomCrashError } from "../room/room_engine.ts";
import type { JamsocketServer, ServiceDefinition } from "../server.ts";
import { consoleLogger } from "../util/logger.ts";
import { BuildError } from "../wasm/build_error.ts";
import { DEV_EVENTS_PATH, DevEvents, type FailedEvent } from "./dev_events.ts";
import { devPageFallback } from "./dev_page.ts";
import {
  cleanOutput,
  displayPath,
  firstCompilerError,
  formatDiagnostic,
  relocate,
} from "./diagnostics.ts";
import { listen } from "./listen.ts";
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

/** Where `dev` listens unless told: this machine only (it lists rooms and shows build errors). */
const DEV_HOSTNAME = "127.0.0.1";

/** Help for `jamsocket dev`. */
export const DEV_HELP =
  `Build a service, serve it, and rebuild and hot-reload it when its sources change

Usage: jamsocket dev [OPTIONS] [DIR]

${PROJECTS_HELP}

Options:${SERVE_FLAGS_HELP}
      --no-watch                        Build and serve once; do not watch
  -h, --help                            Print help

dev listens on 127.0.0.1 unless --hostname says otherwise (0.0.0.0 to reach it from other
machines): its room list and build errors are for you alone.
A TypeScript service is type-checked (deno check) on every change, and its project's modules
are all reloaded. A failed build is printed and shown on the dev page (http://localhost:8080/);
the last good build keeps serving, and a failed first build waits for a fix. GET /rooms is on.
Open rooms keep their state across a reload when it can be carried over (a TypeScript service
with snapshot() and a static restore()); a new WASM build cannot take the old build's state, so
its rooms restart fresh. Each reload says which.`;

/** Help for `jamsocket build`. */
export const BUILD_HELP = `Build a service and print the path of the module it made

Usage: jamsocket build [DIR]

${PROJECTS_HELP}

Options:
  -h, --help  Print help`;

/**
 * Run `jamsocket dev` with the arguments after `dev`; resolves with the exit code once the server
 * has stopped (SIGINT/SIGTERM). A build that fails, the first included, never ends it: the error
 * is printed and shown on the dev page, the last good build (if any) keeps serving, and the next
 * change builds again. Only with `--no-watch` does a failed first build exit (code 1).
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
  const dir = await folderFrom(positionals);
  const config = await readJamsocketToml(dir);
  const flags = values as ServeFlagValues;
  const options = serveOptionsFrom({
    rooms: config.roomStrategy,
    "shutdown-policy": config.shutdownPolicy,
    static: config.staticFiles && resolve(dir, config.staticFiles),
    ...definedOnly(flags),
    hostname: flags.hostname ?? DEV_HOSTNAME,
  });
  const project = await detectProject(dir, config);
  const logger = consoleLogger();
  const context: BuildContext = { logger, maxMemoryPages: maxMemoryPagesFrom(flags) };
  const events = new DevEvents();
  const devPage = options.staticDir === undefined;

  let generation = 1;
  let failure: BuildFailure | undefined;
  console.log(`Building ${project.description} in ${displayPath(project.dir)} …`);
  events.publish({ type: "building", generation, changed: [] });
  const first = await tryBuild(project, generation, context);
  if (first.ok) {
    const summary = describeBuild(project, first.build);
    console.log(summary);
    events.publish({ type: "built", generation, summary, restarted: 0 });
  } else {
    failure = first.failure;
    reportFailure(failure);
    events.publish(failedEvent(failure, generation, false));
    if (values["no-watch"]) {
      await project.close();
      return 1;
    }
  }
  // Watching starts before the server listens, so that no edit made once it answers is missed.
  let server: JamsocketServer | undefined;
  let serving = first.ok;

  let watcher: ChangeWatcher | undefined;
  if (!values["no-watch"]) {
    const rebuild = serialized(async (changed: string[]) => {
      const what = changed.map((path) => shortPath(project.dir, path));
      console.log(
        `Changed: ${what.slice(0, 3).join(", ")}${what.length > 3 ? ", …" : ""}; rebuilding …`,
      );
      events.publish({ type: "building", generation: ++generation, changed: what });
      const result = await tryBuild(project, generation, context);
      if (!result.ok) {
        failure = result.failure;
        reportFailure(failure);
        console.error(serving ? "Still serving the last good build." : WAITING);
        events.publish(failedEvent(failure, generation, serving));
        return;
      }
      const closed = await server!.handler.replaceService(result.build.service);
      serving = true;
      failure = undefined;
      const summary = describeBuild(project, result.build, closed);
      console.log(summary);
      events.publish({ type: "built", generation, summary, restarted: closed });
    });
    watcher = new ChangeWatcher(project.watch, (path) => project.ignores(path), rebuild);
  }
  try {
    server = listen(first.ok ? first.build.service : waitingService(() => failure), {
      ...options,
      listRooms: options.listRooms ?? true,
      logger,
      fallback: devFallback(events, devPage),
      onListen: (addr) => console.log(banner(addr, devPage)),
    });
  } catch (error) {
    watcher?.close();
    await project.close();
    throw error;
  }
  if (watcher) {
    if (!serving) console.error(WAITING);
    console.log("Watching for changes; Ctrl-C to stop.");
  }
  const running = server;
  events.watchRooms(() => running.handler.rooms());
  onShutdownSignal(async () => {
    watcher?.close();
    events.close();
    await running.shutdown();
  });
  await running.finished;
  await project.close();
  return 0;
}

const WAITING =
  "Waiting for a good build: fix the error and save (rooms crash with it until then).";

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
  const dir = await folderFrom(positionals);
  const project = await detectProject(dir, await readJamsocketToml(dir));
  const result = await tryBuild(project, 1, { logger: consoleLogger() });
  await project.close();
  if (!result.ok) {
    reportFailure(result.failure);
    return 1;
  }
  console.error(describeBuild(project, result.build));
  console.log(result.build.artifact);
  return 0;
}

/** A build that failed, as the terminal and the dev page show it. */
interface BuildFailure {
  /** The first error, `file:line:column: message` where the output shows one. */
  readonly headline: string;
  /** The compiler's output. */
  readonly output: string;
  /** What failed, when the headline does not say (`cargo build failed in … (exit code 101)`). */
  readonly summary?: string;
}

type BuildResult = { ok: true; build: Build } | { ok: false; failure: BuildFailure };

/** Build; any error is a failure to show, not a reason to stop. */
async function tryBuild(
  project: Project,
  generation: number,
  context: BuildContext,
): Promise<BuildResult> {
  try {
    return { ok: true, build: await project.build(generation, context) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const output = error instanceof BuildError ? cleanOutput(error.output) : "";
    const first = firstCompilerError(output, [project.dir, Deno.cwd()]);
    const headline = first ? formatDiagnostic(first) : relocate(message, [project.dir]);
    return { ok: false, failure: { headline, output, summary: first ? message : undefined } };
  }
}

/** Print a failed build: the headline first, then the compiler's output, then what failed. */
function reportFailure(failure: BuildFailure): void {
  console.error(`error: ${failure.headline}`);
  if (failure.output.trim()) console.error(failure.output.trimEnd());
  if (failure.summary) console.error(failure.summary);
}

function failedEvent(failure: BuildFailure, generation: number, serving: boolean): FailedEvent {
  const output = [failure.output, failure.summary].filter(Boolean).join("\n");
  return { type: "failed", generation, headline: failure.headline, output, serving };
}

/**
 * What rooms run before the first good build: each crashes at once (1011) with the build's
 * error as the reason, which the dev page shows.
 */
function waitingService(failure: () => BuildFailure | undefined): ServiceDefinition {
  return (roomId: string) => {
    throw new RoomCrashError(
      "constructor",
      `No good build yet: ${failure()?.headline ?? "building"} (room "${roomId}")`,
    );
  };
}

/**
 * The dev server's extra routes: the event stream, the client script (for the dev page and for
 * pages of the project's own), and the dev page unless files are served.
 */
function devFallback(events: DevEvents, page: boolean): (request: Request) => Response {
  return (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === DEV_EVENTS_PATH && request.method === "GET") return events.stream();
    if (pathname === CLIENT_SCRIPT_PATH) return clientScriptResponse(request);
    return page ? devPageFallback(request) : textResponse(404, "Not found");
  };
}

/** "Built Rust crate in 1.20 s: target/…/counter.wasm; …" and, for a rebuild, what it reloaded. */
function describeBuild(project: Project, build: Build, restarted?: number): string {
  const seconds = (build.durationMs / 1000).toFixed(2);
  const artifact = shortPath(project.dir, build.artifact);
  const summary = build.summary ? `; ${build.summary}` : "";
  const verb = restarted === undefined ? "Built" : "Rebuilt";
  const start = `${verb} ${project.description} in ${seconds} s: ${artifact}${summary}`;
  const modules = build.modules ? ` ${build.modules}` : "";
  if (restarted === undefined) return `${start}${modules ? `; loaded${modules}` : ""}`;
  const rooms = restarted === 1 ? "1 open room" : `${restarted} open rooms`;
  return `${start}; reloaded${modules}, ${rooms} restarted (1012)`;
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

/** The project folder: the one positional argument, default `.`; it must exist. */
async function folderFrom(positionals: string[]): Promise<string> {
  if (positionals.length > 1) {
    throw new UsageError(`Found argument '${positionals[1]}' which wasn't expected`);
  }
  const dir = positionals[0] ?? ".";
  let reason = "no such folder";
  try {
    if ((await Deno.stat(dir)).isDirectory) return resolve(dir);
    reason = "not a folder (give the folder that holds the service)";
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) reason = (error as Error).message;
  }
  throw new UsageError(`Cannot open "${dir}": ${reason}`);
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
