/**
 * Run the `jamsocket` CLI as a child process, the way a user runs it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { WAIT_MS, withTimeout } from "./_client.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** A running `jamsocket` process. */
export interface CliProcess {
  readonly process: Deno.ChildProcess;
  /** Everything it printed so far (stdout and stderr, by line). */
  readonly lines: string[];
  /** The port it listens on, read from its "listening" line. */
  readonly port: number;
  /** Wait for a printed line matching `pattern`, among the lines from index `from` on. */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<string>;
  /** Send SIGTERM and wait for the exit status. */
  stop(): Promise<Deno.CommandStatus>;
  /**
   * Press Ctrl-C, as a terminal does: SIGINT to the whole process group (needs `detached`, which
   * gives the CLI a group of its own), and wait for the exit status.
   */
  interrupt(): Promise<Deno.CommandStatus>;
}

/** Where and how to run the CLI. */
export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Run it in a process group (and session) of its own, like a job a terminal starts. */
  detached?: boolean;
  /** Run deno under this command, e.g. `["prlimit", "--nofile=256"]`. */
  wrap?: string[];
}

/** Run `deno run -A cli.ts ...args` and collect its output. */
export function runCli(args: string[], options: CliOptions = {}): Deno.ChildProcess {
  const command = [...(options.wrap ?? []), Deno.execPath(), "run", "-A", CLI, ...args];
  return new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: options.detached,
  }).spawn();
}

/** Run a CLI command to completion: its exit code and output. */
export async function cliOutput(
  args: string[],
  options: CliOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

/**
 * Start a server command (`serve` or `dev`) on 127.0.0.1 (on `port`, default a free one) and
 * wait until it listens.
 */
export async function startCli(
  args: string[],
  options: CliOptions & { ms?: number; port?: number } = {},
): Promise<CliProcess> {
  const portFlag = String(options.port ?? 0);
  const process = runCli([...args, "--port", portFlag, "--hostname", "127.0.0.1"], options);
  const lines: string[] = [];
  let watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (pending + text).split("\n");
      pending = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        watchers = watchers.filter((w) => !w.pattern.test(line) || (w.resolve(line), false));
      }
    }
  };
  void collect(process.stdout);
  void collect(process.stderr);
  const waitFor = (pattern: RegExp, ms = WAIT_MS, from = 0) => {
    const seen = lines.slice(from).find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return withTimeout(
      new Promise<string>((resolve) => watchers.push({ pattern, resolve })),
      ms,
      `a line matching ${pattern}`,
    ).catch((error) => {
      throw new Error(`${error.message} (got:\n${lines.slice(from).join("\n")})`);
    });
  };
  let listening: string;
  try {
    listening = await waitFor(/listening on http:\/\/[^:]+:\d+/, options.ms ?? 30_000);
  } catch (error) {
    process.kill("SIGKILL");
    await process.status;
    throw error;
  }
  const port = Number(/:(\d+)/.exec(listening.slice(listening.indexOf("http")))![1]);
  return {
    process,
    lines,
    port,
    waitFor,
    async stop() {
      try {
        process.kill("SIGTERM");
      } catch {
        // already ended
      }
      return await process.status;
    },
    async interrupt() {
      assert.ok(options.detached, "interrupt() needs a CLI started with detached: true");
      Deno.kill(-process.pid, "SIGINT");
      return await process.status;
    },
  };
}

/** CPU time (clock ticks) used so far by each child process of `parent`, by pid. */
export async function childCpuTicks(parent: number): Promise<Map<number, number>> {
  const ticks = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== parent || fields[0] === "Z") continue;
      ticks.set(Number(entry.name), Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process ended while we looked
    }
  }
  return ticks;
}
