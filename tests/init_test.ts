/**
 * `jamsocket init`: every template writes a service that `jamsocket dev` serves at once (offline,
 * on this machine's toolchains: Debian's Rust 1.63, clang + wasi-libc, AssemblyScript from npm),
 * and whose own test passes. The Rust one is also broken on purpose before its first build, to
 * show that `dev` waits for the fix.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CloseCode } from "../room/close_code.ts";
import { TestClient } from "./_client.ts";
import { cliOutput, type CliProcess, startCli } from "./_cli.ts";

const BUILD_MS = 180_000;

async function withInit(
  template: string,
  fn: (dir: string, output: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "jamsocket-init-" });
  const dir = join(root, `my-${template}-service`);
  try {
    const init = await cliOutput(["init", dir, "--template", template]);
    assert.equal(init.code, 0, init.stderr);
    await fn(dir, init.stdout);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Two clients in one room: greetings with their ids, and the shared counter. */
async function checkService(cli: CliProcess): Promise<void> {
  const url = `ws://127.0.0.1:${cli.port}/ws/lobby`;
  const a = await TestClient.open(url);
  assert.equal(await a.next(BUILD_MS), "User 1 connected.");
  const b = await TestClient.open(url);
  assert.equal(await b.next(), "User 2 connected.");
  a.send("increment");
  assert.equal(await a.next(), "new value: 1");
  assert.equal(await b.next(), "new value: 1");
  b.send("hi");
  assert.equal(await a.next(), "User 2 sent 'hi'");
  await Promise.all([a.close(), b.close()]);
}

/** Run the project's own `deno task test` (which builds a WASM service first). */
async function projectTest(dir: string): Promise<void> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "test"],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, output);
  assert.match(output, /the service greets each client and shares the room's counter \.\.\. ok/);
}

const EXPECTED_FILES: Record<string, string[]> = {
  ts: ["service.ts", "service_test.ts", "deno.json", "README.md", ".gitignore"],
  rust: [
    "Cargo.toml",
    "src/lib.rs",
    "jamsocket-wasm/Cargo.toml",
    "jamsocket-wasm/src/lib.rs",
    "service_test.ts",
    "deno.json",
    "README.md",
    ".gitignore",
  ],
  assemblyscript: [
    "asconfig.json",
    "assembly/index.ts",
    "service_test.ts",
    "deno.json",
    "README.md",
    ".gitignore",
  ],
  c: [
    "service.c",
    "jamsocket.h",
    "jamsocket.toml",
    "service_test.ts",
    "deno.json",
    "README.md",
    ".gitignore",
  ],
};

for (const template of ["ts", "assemblyscript", "c"]) {
  Deno.test(`jamsocket init --template ${template} writes a service that dev serves and its test passes`, async () => {
    await withInit(template, async (dir, output) => {
      assert.match(output, new RegExp(`^Created an? .* in ${RegExp.escape(dir)}:\\n`));
      assert.ok(output.includes(`  ${EXPECTED_FILES[template].join(", ")}\n`), output);
      for (const file of EXPECTED_FILES[template]) await Deno.stat(join(dir, file));
      const readme = await Deno.readTextFile(join(dir, "README.md"));
      assert.match(readme, /^deno task dev {4}# that is: .* dev$/m);
      assert.match(readme, /User 1 connected\./);

      const cli = await startCli(["dev", dir, "--no-watch", "--room-hosts", "0"], { ms: BUILD_MS });
      try {
        await cli.waitFor(/^Built /);
        await checkService(cli);
      } finally {
        assert.equal((await cli.stop()).code, 0);
      }
      await projectTest(dir);
    });
  });
}

Deno.test("jamsocket init --template rust builds offline, waits out a broken first build, and its test passes", async () => {
  await withInit("rust", async (dir) => {
    for (const file of EXPECTED_FILES.rust) await Deno.stat(join(dir, file));
    const cargo = await Deno.readTextFile(join(dir, "Cargo.toml"));
    assert.match(cargo, /^name = "my-rust-service"$/m);
    assert.match(cargo, /^jamsocket-wasm = \{ path = "jamsocket-wasm" \}$/m);
    const readme = await Deno.readTextFile(join(dir, "README.md"));
    assert.match(readme, /jamsocket-wasm = "0\.1"/);
    assert.match(readme, /#\[jamsocket_wasm\]/);

    // Broken before the first build: dev stays up and waits.
    const lib = join(dir, "src/lib.rs");
    const source = await Deno.readTextFile(lib);
    await Deno.writeTextFile(lib, source.replace("value: 0 }", "value: 0 "));
    const cli = await startCli(["dev", dir, "--room-hosts", "0"], { ms: BUILD_MS });
    try {
      await cli.waitFor(/^Waiting for a good build: fix the error and save/, BUILD_MS);
      const headline = cli.lines.find((line) => line.startsWith("error: "));
      assert.match(headline ?? "", /^error: .*src\/lib\.rs:\d+:\d+: /);
      const early = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/lobby`);
      const crash = await early.waitClosed();
      assert.equal(crash.code, CloseCode.InternalError);
      assert.match(crash.reason, /^No good build yet: .*src\/lib\.rs:\d+:\d+: /);

      const mark = cli.lines.length;
      await Deno.writeTextFile(lib, source);
      await cli.waitFor(/^Rebuilt Rust crate in /, BUILD_MS, mark);
      await checkService(cli);
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
    await projectTest(dir);
  });
});

Deno.test("jamsocket init refuses an unknown template and files that exist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-init-" });
  try {
    const unknown = await cliOutput(["init", dir, "--template", "cobol"]);
    assert.deepEqual([unknown.code, unknown.stderr], [
      2,
      "error: Invalid value for '--template': expected one of ts, rust, assemblyscript, c, got 'cobol'\nTry 'jamsocket init --help'\n",
    ]);
    await Deno.writeTextFile(join(dir, "service.ts"), "// mine\n");
    const clash = await cliOutput(["init", dir]);
    assert.deepEqual([clash.code, clash.stderr], [
      2,
      `error: Cannot write into "${dir}": it already has "service.ts" (init writes only new files)\nTry 'jamsocket init --help'\n`,
    ]);
    assert.equal(await Deno.readTextFile(join(dir, "service.ts")), "// mine\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), ["service.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
