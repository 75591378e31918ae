/**
 * Tests for the Cargo toolchain driver, against Debian's Rust 1.63 (`/usr/bin/cargo` with
 * `RUSTC=/usr/bin/rustc`, target `wasm32-wasi`). Each test writes a tiny crate (no dependencies,
 * built offline) into a temporary folder of its own. They fail, naming the packages, where that
 * toolchain is not installed (`apt-get install cargo rustc libstd-rust-dev-wasm32`).
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { BuildError } from "../wasm/build_error.ts";
import { buildCargoWasm, type CargoBuildOptions } from "../wasm/cargo.ts";

const CARGO = "/usr/bin/cargo";
const RUSTC = "/usr/bin/rustc";
const installed = await Deno.stat(CARGO).then(() => Deno.stat(RUSTC)).then(() => true, () => false);
assert.ok(
  installed,
  `${CARGO} or ${RUSTC} is missing: apt-get install cargo rustc libstd-rust-dev-wasm32`,
);

const options: CargoBuildOptions = { cargo: CARGO, env: { RUSTC }, offline: true };
const CDYLIB = '[lib]\ncrate-type = ["cdylib"]\n';

/** Write a crate named `name` into a temporary folder, run `fn` on it, and remove the folder. */
async function withCrate(
  name: string,
  manifest: string,
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "jamsocket_cargo_test_" });
  try {
    const dir = join(root, name);
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      join(dir, "Cargo.toml"),
      `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\n\n${manifest}`,
    );
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, dirname(path)), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function buildError(crateDir: string, extra: CargoBuildOptions = {}): Promise<BuildError> {
  const error = await buildCargoWasm(crateDir, { ...options, ...extra }).then(
    () => assert.fail("expected the build to fail"),
    (error) => error,
  );
  assert.ok(error instanceof BuildError, `expected a BuildError, got ${error}`);
  assert.equal(error.name, "BuildError");
  return error;
}

Deno.test({
  name: "buildCargoWasm builds a cdylib and finds its one .wasm artifact",
  async fn() {
    const lib = '#[no_mangle]\npub extern "C" fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n';
    await withCrate("adder", CDYLIB, { "src/lib.rs": lib }, async (dir) => {
      const lines: string[] = [];
      const build = await buildCargoWasm(dir, { ...options, onOutput: (line) => lines.push(line) });

      assert.equal(build.target, "wasm32-wasi", "Rust 1.63 falls back to the old target name");
      assert.ok(build.wasmPath.endsWith(join("wasm32-wasi", "release", "adder.wasm")));
      assert.ok(build.durationMs > 0);
      const { instance } = await WebAssembly.instantiate(await Deno.readFile(build.wasmPath));
      assert.equal((instance.exports.add as (a: number, b: number) => number)(2, 3), 5);
      assert.ok(lines.some((line) => /Compiling adder/.test(line)), lines.join("\n"));
      assert.ok(
        !lines.some((line) => /specification|wasm32-wasip1/.test(line)),
        "the failed wasm32-wasip1 attempt is not reported",
      );
    });
  },
});

Deno.test({
  name:
    "buildCargoWasm throws a BuildError with rustc's diagnostics when the crate does not compile",
  async fn() {
    await withCrate("broken", CDYLIB, { "src/lib.rs": "pub fn broken( {\n" }, async (dir) => {
      const lines: string[] = [];
      const error = await buildError(dir, { onOutput: (line) => lines.push(line) });

      assert.equal(error.message, `cargo build failed in "${dir}" (exit code 101)`);
      assert.match(error.output, /^error/m);
      assert.match(error.output, /src[/\\]lib\.rs:1/);
      assert.equal(error.output.trimEnd(), lines.join("\n").trimEnd(), "streamed as it came");
    });
  },
});

Deno.test({
  name: 'buildCargoWasm says "No wasm files built" for a crate without a cdylib',
  async fn() {
    const lib = "pub fn answer() -> u32 {\n    42\n}\n";
    await withCrate(
      "library",
      '[lib]\ncrate-type = ["rlib"]\n',
      { "src/lib.rs": lib },
      async (dir) => {
        const error = await buildError(dir);

        assert.match(error.message, /^No wasm files built in ".*library": set crate-type/);
      },
    );
  },
});

Deno.test({
  name: 'buildCargoWasm says "Found more than one wasm file" and lists them',
  async fn() {
    const bins = { "src/bin/one.rs": "fn main() {}\n", "src/bin/two.rs": "fn main() {}\n" };
    await withCrate("two_bins", "", bins, async (dir) => {
      const error = await buildError(dir);

      assert.match(error.message, /^Found more than one wasm file in ".*two_bins": /);
      assert.match(error.message, /one\.wasm/);
      assert.match(error.message, /two\.wasm/);
    });
  },
});

Deno.test("buildCargoWasm throws a BuildError when cargo cannot run", async () => {
  await withCrate("adder", CDYLIB, {}, async (dir) => {
    const error = await buildError(dir, { cargo: join(dir, "no-such-cargo") });

    assert.match(error.message, /^Cannot run cargo ".*no-such-cargo": not found/);
    assert.ok(error.cause instanceof Deno.errors.NotFound);
  });
});

Deno.test("buildCargoWasm throws a BuildError when the folder does not exist", async () => {
  await withCrate("adder", CDYLIB, {}, async (dir) => {
    const error = await buildError(join(dir, "missing"));

    assert.match(error.message, /^Cannot build ".*missing": no such folder$/);
  });
});

/** A folder with a `cargo` and a `rustc` that run but know no wasm target (like rustup's). */
async function withToolchainWithoutWasm(fn: (bin: string) => Promise<void>): Promise<void> {
  const bin = await Deno.makeTempDir({ prefix: "jamsocket_fake_rust_" });
  try {
    await Deno.writeTextFile(
      join(bin, "rustc"),
      '#!/bin/sh\nif [ "$1" = --version ]; then echo "rustc 9.9.9 (no wasm)"; exit 0; fi\n' +
        'echo "error: could not find specification for target" >&2\nexit 1\n',
    );
    await Deno.writeTextFile(join(bin, "cargo"), "#!/bin/sh\necho 'wrong cargo' >&2\nexit 101\n");
    await Deno.chmod(join(bin, "rustc"), 0o755);
    await Deno.chmod(join(bin, "cargo"), 0o755);
    await fn(bin);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test("buildCargoWasm passes over a cargo on PATH without a wasm target and says so", async () => {
  const lib = '#[no_mangle]\npub extern "C" fn one() -> i32 {\n    1\n}\n';
  await withToolchainWithoutWasm(async (bin) => {
    await withCrate("picky", CDYLIB, { "src/lib.rs": lib }, async (dir) => {
      const lines: string[] = [];
      const build = await buildCargoWasm(dir, {
        offline: true,
        env: { PATH: `${bin}:/usr/bin:/bin`, CARGO: "", RUSTC: "" },
        onOutput: (line) => lines.push(line),
      });
      assert.equal(build.toolchain.cargo, CARGO);
      assert.equal(build.toolchain.rustc, RUSTC);
      assert.equal(build.target, "wasm32-wasi");
      assert.deepEqual(build.notes, [
        `using ${CARGO} (${build.toolchain.version}, wasm32-wasi): ${bin}/cargo (rustc 9.9.9) has no WebAssembly target`,
      ]);
      assert.equal(lines[0], `note: ${build.notes[0]}`);
    });
  });
});

Deno.test("buildCargoWasm names the cargo without a wasm target and what to install", async () => {
  await withToolchainWithoutWasm(async (bin) => {
    await withCrate("nowasm", CDYLIB, { "src/lib.rs": "" }, async (dir) => {
      const error = await buildError(dir, { cargo: join(bin, "cargo"), env: { RUSTC: "" } });
      assert.match(
        error.message,
        new RegExp(
          `^No Rust toolchain that builds WebAssembly: ${
            RegExp.escape(join(bin, "cargo"))
          } \\(rustc 9\\.9\\.9\\) has no WebAssembly target\\. With rustup: rustup target add wasm32-wasip1; on Debian or Ubuntu: apt-get install rustc cargo libstd-rust-dev-wasm32`,
        ),
      );
    });
  });
});

Deno.test("buildCargoWasm rewrites a version 4 Cargo.lock for an old cargo, and says so", async () => {
  const lock = "# This file is automatically @generated by Cargo.\n" +
    "# It is not intended for manual editing.\nversion = 4\n\n" +
    '[[package]]\nname = "locked"\nversion = "0.1.0"\n';
  await withCrate("locked", CDYLIB, { "src/lib.rs": "", "Cargo.lock": lock }, async (dir) => {
    const build = await buildCargoWasm(dir, options);
    assert.equal(build.notes.length, 1);
    assert.match(
      build.notes[0],
      /^rewrote .*Cargo\.lock from version 4 to 3: this cargo \(with rustc 1\.63\.0\) cannot read/,
    );
    assert.equal(
      await Deno.readTextFile(join(dir, "Cargo.lock")),
      lock.replace("version = 4", "version = 3"),
    );
  });
});
