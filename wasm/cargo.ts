/**
 * The Cargo toolchain driver behind `jamsocket dev`, `jamsocket build` and `deno task fixtures`:
 * finds a Rust toolchain that can build for WASI, builds a crate to a Jamsocket WebAssembly module
 * and finds the `.wasm` file cargo wrote.
 *
 * **Which toolchain.** A machine may have several cargos: rustup's on PATH without the wasm
 * target, and Debian's `/usr/bin/cargo` whose rustc has it. The driver asks each candidate's rustc
 * for the standard library of `wasm32-wasip1` (the target's name since Rust 1.78), then of
 * `wasm32-wasi` (its old name; Debian's Rust 1.63 has only that one), with
 * `rustc --print target-libdir --target T`, and takes the first that has one. The candidates are
 * `CARGO` (or `options.cargo`) alone when set; else, when `RUSTC` is set, the cargo next to it;
 * else `cargo` on PATH, `/usr/bin/cargo`, `/usr/local/bin/cargo` and `~/.cargo/bin/cargo`. Each
 * cargo runs with the rustc that sits next to it, unless `RUSTC` says otherwise. When none has a wasm target, the error names each one
 * and what to install.
 *
 * **Old Cargo, new lock file.** Cargo before 1.78 cannot read a `Cargo.lock` of version 4 (what
 * newer cargos write). When that is the failure, and the lock file has no git sources (the only
 * entries whose encoding differs between versions 3 and 4), the driver rewrites it as version 3,
 * says so, and builds again.
 *
 * It runs `cargo build --release --target T --message-format=json-render-diagnostics` in the
 * crate's folder and reads cargo's JSON messages on stdout for `compiler-artifact`s whose files
 * end in `.wasm`. The rendered diagnostics go to stderr: they are streamed line by line to
 * `onOutput` and kept for the error of a failed build.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { BuildError } from "./build_error.ts";

/** The WASI preview 1 target, by its current name and by the name older toolchains know. */
export type CargoWasmTarget = "wasm32-wasip1" | "wasm32-wasi";

/** Options for {@linkcode buildCargoWasm}. */
export interface CargoBuildOptions {
  /**
   * The cargo binary; only this one is tried.
   * @default {Deno.env.get("CARGO"), else the first cargo found with a wasm target}
   */
  cargo?: string;
  /**
   * Extra environment for cargo, on top of this process's (e.g. `RUSTC`, `CARGO_TARGET_DIR`).
   * @default {{}}
   */
  env?: Record<string, string>;
  /**
   * Pass `--offline`: build only from what is already on disk (no registry access).
   * @default false
   */
  offline?: boolean;
  /**
   * Build this package of a workspace (`--package`) instead of the one in `crateDir`.
   * @default undefined
   */
  package?: string;
  /**
   * Called with each line cargo writes to stderr (progress and rendered diagnostics), as it
   * comes, and with the driver's own notes (`note: …`).
   * @default undefined
   */
  onOutput?: (line: string) => void;
  /**
   * Aborts the build: cargo is killed and the promise rejects with the signal's reason.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** A Rust toolchain that builds for WASI. */
export interface RustToolchain {
  /** The cargo binary. */
  cargo: string;
  /** The rustc it runs (passed as `RUSTC`). */
  rustc: string;
  /** `rustc --version`, e.g. `rustc 1.63.0`. */
  version: string;
  /** The wasm target its standard library is installed for. */
  target: CargoWasmTarget;
}

/** A successful build. */
export interface CargoBuild {
  /** The absolute path of the `.wasm` module cargo wrote (inside its target folder). */
  wasmPath: string;
  /** The target the module was built for. */
  target: CargoWasmTarget;
  /** The toolchain that built it. */
  toolchain: RustToolchain;
  /** What the driver did on its own (chose another cargo, rewrote the lock file), one line each. */
  notes: string[];
  /** How long the build took, in milliseconds. */
  durationMs: number;
}

const TARGETS: readonly CargoWasmTarget[] = ["wasm32-wasip1", "wasm32-wasi"];

/** What cargo before 1.78 says about a version 4 lock file. */
const OLD_CARGO_LOCK =
  /failed to parse lock file at: (.+)\n[\s\S]*lock file version `?4`? was found, but this version of Cargo does not understand/;

/**
 * Build the Rust crate in `crateDir` for WASI and return the path of its `.wasm` module.
 *
 * The crate must build exactly one `.wasm` file: a library with `crate-type = ["cdylib"]` (or a
 * single binary). Cargo writes it into its target folder; nothing is copied.
 *
 * @param crateDir The folder holding the crate's `Cargo.toml`.
 * @param options The cargo binary, environment, `--offline`, output streaming; see
 * {@linkcode CargoBuildOptions}.
 * @returns The module's path, the target and toolchain used, notes and the build time.
 * @throws {BuildError} When no toolchain has a wasm target, cargo cannot run, the build fails
 * (`output` holds the diagnostics as cargo rendered them), or it produces no `.wasm` file ("No
 * wasm files built") or several ("Found more than one wasm file").
 *
 * @example Build the Rust echo twin
 * ```ts ignore
 * import { buildCargoWasm } from "./cargo.ts";
 *
 * const { wasmPath, target, durationMs } = await buildCargoWasm("examples/wasm/rust/echo", {
 *   offline: true,
 *   onOutput: (line) => console.error(line),
 * });
 * console.log(`built ${wasmPath} for ${target} in ${Math.round(durationMs)} ms`);
 * ```
 */
export async function buildCargoWasm(
  crateDir: string,
  options: CargoBuildOptions = {},
): Promise<CargoBuild> {
  const started = performance.now();
  try {
    if (!(await Deno.stat(crateDir)).isDirectory) throw new Error("not a folder");
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "no such folder" : String(error);
    throw new BuildError(`Cannot build "${crateDir}": ${reason}`, "", { cause: error });
  }
  const notes: string[] = [];
  const note = (line: string) => {
    notes.push(line);
    options.onOutput?.(`note: ${line}`);
  };
  const { toolchain, skipped } = await findRustToolchain(crateDir, options);
  if (skipped.length > 0) {
    note(
      `using ${toolchain.cargo} (${toolchain.version}, ${toolchain.target}): ${
        skipped.map((c) => `${c.cargo} (${c.version})`).join(", ")
      } ${skipped.length === 1 ? "has" : "have"} no WebAssembly target`,
    );
  }

  let attempt = await runCargo(crateDir, toolchain, options);
  const lock = attempt.success ? undefined : OLD_CARGO_LOCK.exec(attempt.stderr)?.[1]?.trim();
  if (lock !== undefined && await downgradeLockFile(lock)) {
    note(
      `rewrote ${lock} from version 4 to 3: this cargo (with ${toolchain.version}) cannot read version 4, and the entries are the same; a newer cargo writes version 4 again`,
    );
    attempt = await runCargo(crateDir, toolchain, options);
  }
  const stderr = [...notes.map((line) => `note: ${line}\n`), attempt.stderr].join("");
  if (!attempt.success) {
    throw new BuildError(
      `cargo build failed in "${crateDir}" (exit code ${attempt.code})`,
      stderr,
    );
  }
  if (attempt.wasmFiles.length === 0) {
    throw new BuildError(
      `No wasm files built in "${crateDir}": set crate-type = ["cdylib"] under [lib] in Cargo.toml`,
      stderr,
    );
  }
  if (attempt.wasmFiles.length > 1) {
    const files = attempt.wasmFiles.map((file) => `"${file}"`).join(", ");
    throw new BuildError(`Found more than one wasm file in "${crateDir}": ${files}`, stderr);
  }
  return {
    wasmPath: attempt.wasmFiles[0],
    target: toolchain.target,
    toolchain,
    notes,
    durationMs: performance.now() - started,
  };
}

/** A candidate cargo without a wasm target. */
interface Skipped {
  cargo: string;
  version: string;
}

/**
 * The first Rust toolchain with a WASI standard library (see the module doc for the order), and
 * the candidates before it that had none.
 *
 * @throws {BuildError} naming every candidate and what to install, when none has one.
 * @example
 * ```ts ignore
 * const { toolchain } = await findRustToolchain(".");
 * console.log(toolchain.cargo, toolchain.target);
 * ```
 */
export async function findRustToolchain(
  crateDir: string,
  options: Pick<CargoBuildOptions, "cargo" | "env"> = {},
): Promise<{ toolchain: RustToolchain; skipped: Skipped[] }> {
  // An empty variable counts as unset.
  const env = Object.fromEntries(
    Object.entries({ ...Deno.env.toObject(), ...options.env }).filter(([, value]) => value !== ""),
  );
  const chosen = options.cargo ?? env.CARGO;
  const nextToRustc = env.RUSTC === undefined ? undefined : await sibling(env.RUSTC, "cargo");
  const candidates = chosen !== undefined
    ? [chosen]
    : nextToRustc !== undefined
    ? [nextToRustc]
    : await defaultCargos(env);
  const skipped: Skipped[] = [];
  const problems: string[] = [];
  for (const cargo of candidates) {
    const rustc = env.RUSTC ?? (await sibling(cargo, "rustc")) ?? "rustc";
    const version = await output(rustc, ["--version"], crateDir);
    if (version === undefined) {
      problems.push(`${cargo}: its rustc ("${rustc}") does not run`);
      continue;
    }
    const name = version.split(" ").slice(0, 2).join(" ");
    for (const target of TARGETS) {
      const libdir = await output(
        rustc,
        ["--print", "target-libdir", "--target", target],
        crateDir,
      );
      if (libdir !== undefined && await hasStd(libdir)) {
        return { toolchain: { cargo, rustc, version: name, target }, skipped };
      }
    }
    skipped.push({ cargo, version: name });
    problems.push(`${cargo} (${name}) has no WebAssembly target`);
  }
  if (candidates.length === 0) problems.push("no cargo found on PATH or in the usual places");
  throw new BuildError(
    `No Rust toolchain that builds WebAssembly: ${
      problems.join("; ")
    }. With rustup: rustup target add wasm32-wasip1; on Debian or Ubuntu: apt-get install rustc cargo libstd-rust-dev-wasm32 (then CARGO=/usr/bin/cargo if another cargo comes first)`,
  );
}

/** `cargo` on PATH, then the usual places; each once. */
async function defaultCargos(env: Record<string, string>): Promise<string[]> {
  const dirs = (env.PATH ?? "").split(":").filter(Boolean);
  const home = env.HOME;
  const places = [
    ...dirs.map((dir) => join(dir, "cargo")),
    "/usr/bin/cargo",
    "/usr/local/bin/cargo",
    ...(home ? [join(home, ".cargo/bin/cargo")] : []),
  ];
  const found: string[] = [];
  const real = new Set<string>();
  for (const place of places) {
    try {
      if (!(await Deno.stat(place)).isFile) continue;
      const key = await Deno.realPath(place);
      // rustup's proxies are all one binary: tell them apart by folder, not by target.
      const id = key.endsWith("/rustup") ? place : key;
      if (real.has(id)) continue;
      real.add(id);
      found.push(place);
    } catch {
      // not there
    }
  }
  return found;
}

/** `name` in the folder of `binary`, if it exists there. */
async function sibling(binary: string, name: string): Promise<string | undefined> {
  if (!binary.includes("/")) return undefined;
  const path = join(dirname(binary), name);
  return await Deno.stat(path).then(() => path, () => undefined);
}

/** Whether a target's library folder holds a standard library. */
async function hasStd(libdir: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(libdir)) {
      if (/^libstd-.*\.rlib$/.test(entry.name)) return true;
    }
  } catch {
    // no such folder
  }
  return false;
}

/** A command's stdout, trimmed, or undefined when it cannot run or fails. */
async function output(command: string, args: string[], cwd: string): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(command, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Rewrite a version 4 lock file without git sources as version 3; whether it did. */
async function downgradeLockFile(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return false;
  }
  if (!/^version = 4$/m.test(text) || /^source = "git\+/m.test(text)) return false;
  await Deno.writeTextFile(path, text.replace(/^version = 4$/m, "version = 3"));
  return true;
}

interface CargoRun {
  success: boolean;
  code: number;
  stderr: string;
  wasmFiles: string[];
}

async function runCargo(
  crateDir: string,
  toolchain: RustToolchain,
  options: CargoBuildOptions,
): Promise<CargoRun> {
  const { cargo, target, rustc } = toolchain;
  const args = [
    "build",
    "--release",
    "--target",
    target,
    "--message-format=json-render-diagnostics",
  ];
  if (options.offline) args.push("--offline");
  if (options.package !== undefined) args.push("--package", options.package);

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cargo, {
      args,
      cwd: crateDir,
      env: { ...options.env, RUSTC: rustc },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: options.signal,
    }).spawn();
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "not found (install Rust, or set CARGO)"
      : String(error);
    throw new BuildError(`Cannot run cargo "${cargo}": ${reason}`, "", { cause: error });
  }

  const wasmFiles = new Set<string>();
  const readStdout = (async () => {
    for await (const line of lines(child.stdout)) {
      const message = parseMessage(line);
      if (message?.reason !== "compiler-artifact" || !Array.isArray(message.filenames)) continue;
      for (const file of message.filenames) {
        if (typeof file === "string" && file.toLowerCase().endsWith(".wasm")) wasmFiles.add(file);
      }
    }
  })();

  let stderr = "";
  const readStderr = (async () => {
    for await (const line of lines(child.stderr, (text) => stderr += text)) {
      options.onOutput?.(line);
    }
  })();

  const [status] = await Promise.all([child.status, readStdout, readStderr]);
  options.signal?.throwIfAborted();
  return { success: status.success, code: status.code, stderr, wasmFiles: [...wasmFiles] };
}

/** The lines of a byte stream (without their `\n` or `\r\n`); `onText` sees the raw text. */
async function* lines(
  stream: ReadableStream<Uint8Array>,
  onText?: (text: string) => void,
): AsyncGenerator<string> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    onText?.(text);
    pending += text;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const part of parts) yield part.endsWith("\r") ? part.slice(0, -1) : part;
  }
  if (pending !== "") yield pending;
}

interface CargoMessage {
  reason?: unknown;
  filenames?: unknown[];
}

function parseMessage(line: string): CargoMessage | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const message = JSON.parse(line);
    return typeof message === "object" && message !== null ? message : undefined;
  } catch {
    return undefined;
  }
}
