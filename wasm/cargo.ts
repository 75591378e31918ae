/**
 * The Cargo toolchain driver behind `jamsocket dev` and `deno task fixtures`: builds a Rust crate
 * to a Jamsocket WebAssembly module and finds the `.wasm` file cargo wrote.
 *
 * It runs `cargo build --release --target wasm32-wasip1 --message-format=json-render-diagnostics`
 * in the crate's folder and reads cargo's JSON messages on stdout for `compiler-artifact`s whose
 * files end in `.wasm`. Toolchains older than Rust 1.78 do not know `wasm32-wasip1` (the target's
 * name since then); when cargo says so, the build is retried with `wasm32-wasi`, the same target
 * under its old name (Debian's Rust 1.63 has only that one). The rendered diagnostics go to
 * stderr: they are streamed line by line to `onOutput` and kept for the error of a failed build.
 *
 * @module
 */

import { BuildError } from "./build_error.ts";

/** The WASI preview 1 target, by its current name and by the name older toolchains know. */
export type CargoWasmTarget = "wasm32-wasip1" | "wasm32-wasi";

/** Options for {@linkcode buildCargoWasm}. */
export interface CargoBuildOptions {
  /**
   * The cargo binary.
   * @default {Deno.env.get("CARGO") ?? "cargo"}
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
   * comes. Lines of an attempt with `wasm32-wasip1` that ends in the fallback are not reported.
   * @default undefined
   */
  onOutput?: (line: string) => void;
  /**
   * Aborts the build: cargo is killed and the promise rejects with the signal's reason.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** A successful build. */
export interface CargoBuild {
  /** The absolute path of the `.wasm` module cargo wrote (inside its target folder). */
  wasmPath: string;
  /** The target the module was built for. */
  target: CargoWasmTarget;
  /** How long the build took, fallback included, in milliseconds. */
  durationMs: number;
}

/** What cargo prints when the toolchain does not know a target (rustc 1.63: "Could not find"). */
const UNKNOWN_TARGET = /could not find specification for target|unknown target/i;

/** Stderr lines that prove cargo got past checking the target. */
const PAST_TARGET_CHECK = /^\s*(Compiling|Checking|Fresh|Finished|Running)\s/;

/**
 * Build the Rust crate in `crateDir` for WASI and return the path of its `.wasm` module.
 *
 * The crate must build exactly one `.wasm` file: a library with `crate-type = ["cdylib"]` (or a
 * single binary). Cargo writes it into its target folder; nothing is copied.
 *
 * @param crateDir The folder holding the crate's `Cargo.toml`.
 * @param options The cargo binary, environment, `--offline`, output streaming; see
 * {@linkcode CargoBuildOptions}.
 * @returns The module's path, the target used and the build time.
 * @throws {BuildError} When cargo cannot run, the build fails (`output` holds the diagnostics as
 * cargo rendered them), or it produces no `.wasm` file ("No wasm files built") or several
 * ("Found more than one wasm file").
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

  let attempt = await runCargo(crateDir, "wasm32-wasip1", options);
  if (attempt.unknownTarget) attempt = await runCargo(crateDir, "wasm32-wasi", options);

  const { target, stderr } = attempt;
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
  return { wasmPath: attempt.wasmFiles[0], target, durationMs: performance.now() - started };
}

interface CargoRun {
  target: CargoWasmTarget;
  success: boolean;
  code: number;
  stderr: string;
  wasmFiles: string[];
  /** Whether cargo failed because the toolchain does not know the target. */
  unknownTarget: boolean;
}

async function runCargo(
  crateDir: string,
  target: CargoWasmTarget,
  options: CargoBuildOptions,
): Promise<CargoRun> {
  const cargo = options.cargo ?? Deno.env.get("CARGO") ?? "cargo";
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
      env: options.env,
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

  // Until cargo is past checking the target, hold stderr lines back: if wasm32-wasip1 turns out
  // to be unknown, they belong to an attempt the caller never sees.
  let pastTargetCheck = target === "wasm32-wasi";
  const held: string[] = [];
  const pass = () => {
    pastTargetCheck = true;
    for (const line of held.splice(0)) options.onOutput?.(line);
  };

  const wasmFiles = new Set<string>();
  const readStdout = (async () => {
    for await (const line of lines(child.stdout)) {
      const message = parseMessage(line);
      if (message === undefined) continue;
      if (!pastTargetCheck) pass();
      if (message.reason !== "compiler-artifact" || !Array.isArray(message.filenames)) continue;
      for (const file of message.filenames) {
        if (typeof file === "string" && file.toLowerCase().endsWith(".wasm")) wasmFiles.add(file);
      }
    }
  })();

  let stderr = "";
  const readStderr = (async () => {
    for await (const line of lines(child.stderr, (text) => stderr += text)) {
      if (!pastTargetCheck && PAST_TARGET_CHECK.test(line)) pass();
      if (pastTargetCheck) options.onOutput?.(line);
      else held.push(line);
    }
  })();

  const [status] = await Promise.all([child.status, readStdout, readStderr]);
  options.signal?.throwIfAborted();
  const unknownTarget = target === "wasm32-wasip1" && !status.success && !pastTargetCheck &&
    UNKNOWN_TARGET.test(stderr);
  if (!unknownTarget) pass();
  return {
    target,
    success: status.success,
    code: status.code,
    stderr,
    wasmFiles: [...wasmFiles],
    unknownTarget,
  };
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
