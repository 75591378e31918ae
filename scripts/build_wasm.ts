/**
 * Rebuild every committed `.wasm` file from its source, reproducibly: `deno task fixtures`.
 *
 * | source | output | toolchain |
 * | --- | --- | --- |
 * | `examples/wasm/rust/<crate>/` | `examples/wasm/<crate>.wasm` (`-` → `_`) | Cargo, through `wasm/cargo.ts` |
 * | `examples/wasm/c/echo.c` | `examples/wasm/echo_c.wasm` | clang + wasi-libc, as a WASI reactor |
 * | `cli/templates/c/service.c` (the `jamsocket init --lang c` counter) | `examples/wasm/counter_c.wasm` | the same |
 * | `examples/assemblyscript/` | `examples/wasm/counter_as.wasm` | AssemblyScript, through `wasm/asc.ts` |
 * | `tests/fixtures/<name>.wat` | `tests/fixtures/<name>.wasm` | wabt (`npm:wabt`, pinned in `deno.json`) |
 *
 * Environment:
 * - `CARGO`: the cargo binary (default `/usr/bin/cargo`, Debian's 1.65).
 * - `RUSTC`: the rustc cargo uses (default `/usr/bin/rustc` when it exists, Debian's 1.63, whose
 *   sysroot has the `wasm32-wasi` standard library).
 * - `CLANG`: the C compiler (default `clang`); `WASI_SYSROOT`: a wasi-libc sysroot (default:
 *   Debian's, under `/usr`, which clang finds by itself).
 *
 * The WAT fixtures are assembled with the npm build of wabt rather than Debian's `wat2wasm`: its
 * version is pinned in `deno.json`, so every machine produces the same bytes, and it needs no
 * system package (Debian's wabt 1.0.32 and npm's 1.0.39 produce identical bytes for these files
 * today). Function names are kept (like `wat2wasm --debug-names`) so traps name the function.
 *
 * The Rust crates build offline (no crates.io) into `examples/wasm/rust/target/`, which
 * `.gitignore` ignores. Two runs produce byte-identical outputs: rustc embeds only workspace-relative
 * source paths (in panic messages), and `strip = true` drops the rest.
 *
 * Before building anything, every toolchain is checked; a missing one stops the script with a
 * non-zero exit and one line per problem naming the Debian package to install.
 *
 * @module
 */

import wabtInit from "wabt";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { BuildError } from "../wasm/build_error.ts";
import { buildCargoWasm } from "../wasm/cargo.ts";
import { buildAssemblyScript } from "../wasm/asc.ts";
import { loadWasmService } from "../wasm/host.ts";
import { consoleLogger } from "../util/logger.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUST_WORKSPACE = join(ROOT, "examples/wasm/rust");
const RUST_CRATES = [
  "counter",
  "echo",
  "clock",
  "binary-echo",
  "randomness",
  "cpu-hog",
  "compute",
] as const;
/** C guests: source, output. */
const C_BUILDS = [
  ["examples/wasm/c/echo.c", "examples/wasm/echo_c.wasm"],
  ["cli/templates/c/service.c", "examples/wasm/counter_c.wasm"],
] as const;
const AS_PROJECT = join(ROOT, "examples/assemblyscript");
const AS_OUTPUT = join(ROOT, "examples/wasm/counter_as.wasm");
const FIXTURES = join(ROOT, "tests/fixtures");

interface Toolchains {
  cargo: string;
  rustEnv: Record<string, string>;
  clang: string;
  clangArgs: string[];
}

if (import.meta.main) {
  try {
    const toolchains = await checkToolchains();
    await buildRust(toolchains);
    await buildC(toolchains);
    await buildAssemblyScriptExample();
    await buildFixtures();
  } catch (error) {
    if (error instanceof BuildError) {
      if (error.output) console.error(error.output.trimEnd());
      console.error(`error: ${error.message}`);
    } else {
      console.error(`error: ${error instanceof Error ? error.message : error}`);
    }
    Deno.exit(1);
  }
}

/** Check every toolchain up front; throw one line per missing piece, with its Debian package. */
async function checkToolchains(): Promise<Toolchains> {
  const problems: string[] = [];
  const cargo = Deno.env.get("CARGO") ?? "/usr/bin/cargo";
  // RUSTC for cargo: as given, else Debian's when it exists, else whatever cargo picks.
  const rustcEnv = Deno.env.get("RUSTC") ??
    (await exists("/usr/bin/rustc") ? "/usr/bin/rustc" : undefined);
  const rustc = rustcEnv ?? "rustc";
  const clang = Deno.env.get("CLANG") ?? "clang";
  const sysroot = Deno.env.get("WASI_SYSROOT");

  if (await run(cargo, ["--version"]) === undefined) {
    problems.push(`cargo not found ("${cargo}"): apt-get install cargo (or set CARGO)`);
  }
  const rustSysroot = (await run(rustc, ["--print", "sysroot"]))?.trim();
  if (rustSysroot === undefined) {
    problems.push(`rustc not found ("${rustc}"): apt-get install rustc (or set RUSTC)`);
  } else if (
    !await exists(join(rustSysroot, "lib/rustlib/wasm32-wasi")) &&
    !await exists(join(rustSysroot, "lib/rustlib/wasm32-wasip1"))
  ) {
    problems.push(
      `rustc "${rustc}" has no wasm32-wasi standard library: apt-get install libstd-rust-dev-wasm32`,
    );
  }

  const clangVersion = await run(clang, ["--version"]);
  if (clangVersion === undefined) {
    problems.push(`clang not found ("${clang}"): apt-get install clang (or set CLANG)`);
  } else {
    const major = clangVersion.match(/clang version (\d+)/)?.[1] ?? "<version>";
    if (await run("wasm-ld", ["--version"]) === undefined) {
      problems.push("wasm-ld not found: apt-get install lld");
    }
    const libc = join(sysroot ?? "/usr", "lib/wasm32-wasi/libc.a");
    if (!await exists(libc)) {
      problems.push(
        `wasi-libc not found ("${libc}"): apt-get install wasi-libc (or set WASI_SYSROOT)`,
      );
    }
    const builtins = (await run(clang, ["--target=wasm32-wasi", "-print-libgcc-file-name"]))
      ?.trim();
    if (builtins === undefined || !await exists(builtins)) {
      problems.push(
        `compiler-rt builtins for wasm32 not found ("${builtins}"): ` +
          `apt-get install libclang-rt-${major}-dev-wasm32`,
      );
    }
  }

  if (problems.length > 0) {
    throw new Error(`missing toolchains, nothing was built:\n  ${problems.join("\n  ")}`);
  }
  return {
    cargo,
    rustEnv: rustcEnv === undefined ? {} : { RUSTC: rustcEnv },
    clang,
    clangArgs: sysroot === undefined ? [] : [`--sysroot=${sysroot}`],
  };
}

/** Build each crate of the Rust workspace and copy its module next to the TS examples. */
async function buildRust({ cargo, rustEnv }: Toolchains): Promise<void> {
  for (const crate of RUST_CRATES) {
    const { wasmPath, target } = await buildCargoWasm(join(RUST_WORKSPACE, crate), {
      cargo,
      env: rustEnv,
      offline: true,
    });
    const output = join(ROOT, "examples/wasm", `${crate.replaceAll("-", "_")}.wasm`);
    await Deno.copyFile(wasmPath, output);
    await checkService(output);
    await report(output, `rust ${target}`);
  }
}

/** Build the C guests (the echo twin, the template's counter) as WASI reactors. */
async function buildC(toolchains: Toolchains): Promise<void> {
  for (const [source, output] of C_BUILDS) await buildOneC(toolchains, source, output);
}

async function buildOneC(
  { clang, clangArgs }: Toolchains,
  source: string,
  outputPath: string,
): Promise<void> {
  const args = [
    "--target=wasm32-wasi",
    ...clangArgs,
    "-mexec-model=reactor",
    "-Os",
    "-Wall",
    "-Wextra",
    // wasi-libc's archives carry DWARF; keep the name section only.
    "-Wl,--strip-debug",
    // Export the two ints as globals holding their addresses, as rustc does.
    "-Wl,--export=JAMSOCKET_API_VERSION",
    "-Wl,--export=JAMSOCKET_API_PROTOCOL",
    "-o",
    outputPath,
    source,
  ];
  const { success, code, stdout, stderr } = await new Deno.Command(clang, {
    args,
    cwd: ROOT,
    stdin: "null",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (!success) {
    throw new BuildError(
      `clang failed on "${source}" (exit code ${code})`,
      output,
    );
  }
  if (output.trim()) console.error(output.trimEnd());
  await checkService(join(ROOT, outputPath));
  await report(join(ROOT, outputPath), "c reactor");
}

/** Build the AssemblyScript counter twin. */
async function buildAssemblyScriptExample(): Promise<void> {
  const { wasmPath } = await buildAssemblyScript(AS_PROJECT);
  await Deno.copyFile(wasmPath, AS_OUTPUT);
  await checkService(AS_OUTPUT);
  await report(AS_OUTPUT, "assemblyscript");
}

/** Assemble every WAT fixture. */
async function buildFixtures(): Promise<void> {
  const wabt = await wabtInit();
  const sources = [];
  for await (const entry of Deno.readDir(FIXTURES)) {
    if (entry.isFile && entry.name.endsWith(".wat")) sources.push(entry.name);
  }
  for (const name of sources.sort()) {
    const source = join(FIXTURES, name);
    const output = source.replace(/\.wat$/, ".wasm");
    let bytes: Uint8Array;
    try {
      const module = wabt.parseWat(name, await Deno.readTextFile(source));
      try {
        module.resolveNames();
        module.validate();
        bytes = module.toBinary({ write_debug_names: true }).buffer;
      } finally {
        module.destroy();
      }
    } catch (error) {
      throw new BuildError(`wabt failed on "${relative(ROOT, source)}"`, String(error), {
        cause: error,
      });
    }
    await Deno.writeFile(output, bytes);
    await report(output, "wat");
  }
}

/** Refuse a module the host would refuse: the host's own load-time checks. */
async function checkService(path: string): Promise<void> {
  await loadWasmService(path, { logger: consoleLogger("error") });
}

async function report(path: string, how: string): Promise<void> {
  const { size } = await Deno.stat(path);
  console.log(`${String(size).padStart(7)} bytes  ${relative(ROOT, path)}  (${how})`);
}

/** Run a command; its stdout, or undefined when it cannot run or fails. */
async function run(command: string, args: string[]): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout) : undefined;
  } catch {
    return undefined;
  }
}

function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}
