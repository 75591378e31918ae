/**
 * `jamsocket dev` on temporary copies of the Rust, AssemblyScript and TypeScript examples: the
 * service answers; an edit changes what new clients see without restarting the process; open
 * clients get 1012; a broken edit keeps the last good build serving and prints the compiler's
 * error; fixing it reloads again.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CloseCode } from "../room/close_code.ts";
import { TestClient } from "./_client.ts";
import { cliOutput, type CliProcess, runCli, startCli } from "./_cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RUST_ENV = { CARGO: "/usr/bin/cargo", RUSTC: "/usr/bin/rustc" };
const BUILD_MS = 180_000;

/** Copy `from` (a folder of the repo) into a new temp folder, skipping build outputs. */
async function copyProject(from: string): Promise<string> {
  const to = await Deno.makeTempDir({ prefix: "jamsocket-dev-" });
  const copy = async (src: string, dst: string) => {
    for await (const entry of Deno.readDir(src)) {
      if (["target", "build", "node_modules"].includes(entry.name)) continue;
      if (entry.isDirectory) {
        await Deno.mkdir(join(dst, entry.name));
        await copy(join(src, entry.name), join(dst, entry.name));
      } else await Deno.copyFile(join(src, entry.name), join(dst, entry.name));
    }
  };
  await copy(join(ROOT, from), to);
  return to;
}

/** Replace `from` by `to` in a file (which must contain it). */
async function edit(path: string, from: string, to: string): Promise<void> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.includes(from), `${path} does not contain ${from}`);
  await Deno.writeTextFile(path, text.replace(from, to));
}

/** Connect to room `room`, send "increment", and return the reply. */
async function incrementReply(cli: CliProcess, room: string): Promise<string> {
  const client = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/${room}`);
  client.send("increment");
  const reply = await client.nextText();
  await client.close();
  return reply;
}

interface DevCase {
  project: string;
  /** The folder `dev` runs on, inside the copy. */
  dir: (copy: string) => string;
  /** The file to edit, inside the copy. */
  source: (copy: string) => string;
  /** The reply format as written in the source, and a new one. */
  format: [original: string, edited: string, fixed: string];
  /** A text that makes the source fail to compile. */
  breakage: string;
  /** A line the compiler prints for the breakage. */
  diagnostic: RegExp;
  env?: Record<string, string>;
}

const CASES: Record<string, DevCase> = {
  "Rust": {
    project: "examples/wasm/rust",
    dir: (copy) => join(copy, "counter"),
    source: (copy) => join(copy, "counter/src/lib.rs"),
    format: ['"new value: {}"', '"counter is {}"', '"count: {}"'],
    breakage: "this is not rust",
    diagnostic: /error: expected one of|error\[E|error: /,
    env: RUST_ENV,
  },
  "AssemblyScript": {
    project: "examples/assemblyscript",
    dir: (copy) => copy,
    source: (copy) => join(copy, "assembly/index.ts"),
    format: ["`new value: ${this.value}`", "`counter is ${this.value}`", "`count: ${this.value}`"],
    breakage: "let broken: i32 = ;",
    diagnostic: /ERROR/,
  },
};

for (const [language, c] of Object.entries(CASES)) {
  Deno.test(`jamsocket dev (${language}) builds, serves, hot-reloads, and survives a broken edit`, async () => {
    const copy = await copyProject(c.project);
    const cli = await startCli(["dev", c.dir(copy), "--room-hosts", "0"], {
      env: c.env,
      ms: BUILD_MS,
    });
    try {
      await cli.waitFor(/^Built .* in \d+\.\d\d s: /);
      await cli.waitFor(/dev page {2}http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(await incrementReply(cli, "a"), "new value: 1");

      const open = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/a`);
      let mark = cli.lines.length;
      await edit(c.source(copy), c.format[0], c.format[1]);
      await cli.waitFor(/^Rebuilt .*; reloaded, 1 open room restarted \(1012\)$/, BUILD_MS, mark);
      await cli.waitFor(
        /^Rooms restart fresh: a new WASM build cannot restore the old build's snapshots$/,
        1000,
        mark,
      );
      const restart = await open.waitClosed();
      assert.deepEqual([restart.code, restart.reason], [
        CloseCode.ServiceRestart,
        "Service restart",
      ]);
      assert.equal(await incrementReply(cli, "a"), "counter is 1");

      mark = cli.lines.length;
      const source = await Deno.readTextFile(c.source(copy));
      await Deno.writeTextFile(c.source(copy), `${source}\n${c.breakage}\n`);
      await cli.waitFor(/^Still serving the last good build\.$/, BUILD_MS, mark);
      assert.ok(cli.lines.slice(mark).some((line) => c.diagnostic.test(line)), "no diagnostic");
      assert.equal(await incrementReply(cli, "b"), "counter is 1");

      mark = cli.lines.length;
      await Deno.writeTextFile(c.source(copy), source.replace(c.format[1], c.format[2]));
      await cli.waitFor(/^Rebuilt /, BUILD_MS, mark);
      assert.equal(await incrementReply(cli, "c"), "count: 1");
    } finally {
      assert.equal((await cli.stop()).code, 0);
      await Deno.remove(copy, { recursive: true });
    }
  });
}

/** A TypeScript counter whose reply starts with `GREETING` from `./greeting.ts`. */
const TS_SERVICE = `import type { JamsocketContext } from "${join(ROOT, "mod.ts")}";
import { GREETING } from "./greeting.ts";

export default class Counter {
  #value = 0;
  message(_client: number, text: string, ctx: JamsocketContext) {
    if (text === "increment") this.#value++;
    ctx.sendMessage(0, \`\${GREETING} \${this.#value}\`);
  }
}
`;

/** A TypeScript project in a temp folder, with `dev .` running in it. */
async function withTsProject(
  files: Record<string, string>,
  fn: (cli: CliProcess, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-dev-" });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  const cli = await startCli(["dev", "."], { cwd: dir });
  try {
    await fn(cli, dir);
  } finally {
    assert.equal((await cli.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("jamsocket dev (TypeScript) type-checks each change and reloads every local module", async () => {
  const files = {
    "service.ts": TS_SERVICE,
    "greeting.ts": 'export const GREETING = "new value:";\n',
  };
  await withTsProject(files, async (cli, dir) => {
    await cli.waitFor(
      /^Built TypeScript service \(service\.ts\) in \d+\.\d\d s: service\.ts; type-checked in \d+\.\d\d s; loaded service\.ts, greeting\.ts \(kept \d+ modules from outside the project\)$/,
    );
    assert.equal(await incrementReply(cli, "t"), "new value: 1");

    // An edit to an imported module takes effect, and the line says what was reloaded.
    let mark = cli.lines.length;
    await Deno.writeTextFile(join(dir, "greeting.ts"), 'export const GREETING = "counter is";\n');
    await cli.waitFor(
      /^Rebuilt TypeScript service \(service\.ts\) in .*; reloaded service\.ts, greeting\.ts \(kept \d+ modules from outside the project\), 1 open room restarted \(1012\)$/,
      30_000,
      mark,
    );
    assert.equal(await incrementReply(cli, "t2"), "counter is 1");

    // A type error is a failed build: its headline first, with file, line and column.
    mark = cli.lines.length;
    await edit(join(dir, "service.ts"), "ctx.sendMessage(", "ctx.sendMesage(");
    await cli.waitFor(/^Still serving the last good build\.$/, 30_000, mark);
    const failed = cli.lines.slice(mark);
    const headline = failed.findIndex((line) => line.startsWith("error: "));
    assert.equal(
      failed[headline],
      "error: service.ts:8:9: Property 'sendMesage' does not exist on type 'JamsocketContext'. Did you mean 'sendMessage'? (TS2551)",
    );
    assert.ok(failed.slice(headline).includes("    at service.ts:8:9"), failed.join("\n"));
    assert.ok(
      !failed.some((line) =>
        line.includes("file://") || line.includes("?v=") || line.includes("\x1b[")
      ),
      failed.join("\n"),
    );
    assert.equal(await incrementReply(cli, "u"), "counter is 1");

    // A syntax error in an imported module: same, at its place.
    mark = cli.lines.length;
    await edit(join(dir, "service.ts"), "ctx.sendMesage(", "ctx.sendMessage(");
    await Deno.writeTextFile(join(dir, "greeting.ts"), 'export const GREETING = "oops;\n');
    await cli.waitFor(/^Still serving the last good build\.$/, 30_000, mark);
    assert.ok(
      cli.lines.slice(mark).some((line) =>
        /^error: greeting\.ts:1:31: Unterminated string literal\. \(TS1002\)$/.test(line)
      ),
      cli.lines.slice(mark).join("\n"),
    );

    // A module that throws while it loads: where it threw.
    mark = cli.lines.length;
    await Deno.writeTextFile(
      join(dir, "greeting.ts"),
      'export const GREETING = "x";\nthrow new Error("no greeting today");\n',
    );
    await cli.waitFor(/^Still serving the last good build\.$/, 30_000, mark);
    assert.ok(
      cli.lines.slice(mark).includes("error: greeting.ts:2:7: Error: no greeting today"),
      cli.lines.slice(mark).join("\n"),
    );
    assert.equal(await incrementReply(cli, "v"), "counter is 1");
  });
});

/** The counter of `TS_SERVICE`, with the hooks that let its rooms keep their state. */
const TS_SNAPSHOT_SERVICE = `import type { JamsocketContext, SavedState } from "${
  join(ROOT, "mod.ts")
}";
import { GREETING } from "./greeting.ts";

export default class Counter {
  #value = 0;
  static restore(_roomId: string, _ctx: JamsocketContext, state: SavedState): Counter {
    const counter = new Counter();
    counter.#value = (state as { value: number }).value;
    return counter;
  }
  snapshot(): SavedState {
    return { value: this.#value };
  }
  message(_client: number, text: string, ctx: JamsocketContext) {
    if (text === "increment") this.#value++;
    ctx.sendMessage(0, \`\${GREETING} \${this.#value}\`);
  }
}
`;

Deno.test("jamsocket dev (TypeScript with snapshot hooks) keeps each room's state across a reload", async () => {
  const files = {
    "service.ts": TS_SNAPSHOT_SERVICE,
    "greeting.ts": 'export const GREETING = "new value:";\n',
  };
  await withTsProject(files, async (cli, dir) => {
    await cli.waitFor(/^Built TypeScript service/);
    const open = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/kept`);
    for (const n of [1, 2]) {
      open.send("increment");
      assert.equal(await open.nextText(), `new value: ${n}`);
    }
    const mark = cli.lines.length;
    await Deno.writeTextFile(join(dir, "greeting.ts"), 'export const GREETING = "counter is";\n');
    await cli.waitFor(/^Kept the state of 1 of 1 rooms across the reload$/, 30_000, mark);
    await cli.waitFor(
      /^Rebuilt TypeScript service .* 1 open room restarted \(1012\)$/,
      30_000,
      mark,
    );
    assert.equal((await open.waitClosed()).code, CloseCode.ServiceRestart);
    // The reconnecting client finds its counter where it was, under the new code.
    assert.equal(await incrementReply(cli, "kept"), "counter is 3");
  });
});

Deno.test("jamsocket dev (TypeScript) waits for a fix when the first build fails", async () => {
  const broken = TS_SERVICE.replace("message(_client", "message( _client {");
  await withTsProject(
    { "service.ts": broken, "greeting.ts": 'export const GREETING = "hi";\n' },
    async (cli, dir) => {
      const headline = await cli.waitFor(/^error: /);
      assert.match(headline, /^error: service\.ts:6:\d+: SyntaxError: /);
      await cli.waitFor(/^Waiting for a good build: fix the error and save/);
      // Until then, a room crashes at once, with the error as the reason.
      const early = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/w`);
      const crash = await early.waitClosed();
      assert.equal(crash.code, CloseCode.InternalError);
      assert.match(crash.reason, /^No good build yet: service\.ts:6:\d+: SyntaxError: /);

      const mark = cli.lines.length;
      await Deno.writeTextFile(join(dir, "service.ts"), TS_SERVICE);
      await cli.waitFor(/^Rebuilt TypeScript service /, 30_000, mark);
      assert.equal(await incrementReply(cli, "w"), "hi 1");
    },
  );
});

Deno.test("jamsocket dev builds any toolchain named by jamsocket.toml", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-dev-" });
  await Deno.copyFile(join(ROOT, "tests/fixtures/echo.wasm"), join(dir, "source.wasm"));
  await Deno.writeTextFile(
    join(dir, "jamsocket.toml"),
    `[service]\nbuild = "cp source.wasm out.wasm"\nmodule = "out.wasm"\nroom_strategy = "api"\n`,
  );
  const cli = await startCli(["dev", dir, "--no-watch", "--room-hosts", "0"]);
  try {
    await cli.waitFor(/^Built custom build \(cp source\.wasm out\.wasm\) in .*: out\.wasm$/);
    const refused = await fetch(`http://127.0.0.1:${cli.port}/ws/x`, {
      headers: { upgrade: "websocket" },
    });
    assert.equal(refused.status, 404, "room_strategy = api was not applied");
    await refused.body?.cancel();
    assert.equal(
      (await fetch(`http://127.0.0.1:${cli.port}/ws/x`, { method: "POST" })).status,
      200,
    );
    const client = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/x`);
    assert.equal(await client.next(), "hello");
    await client.close();
  } finally {
    assert.equal((await cli.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jamsocket dev reports a bad folder, a malformed jamsocket.toml, and a failing build", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-dev-" });
  try {
    const empty = await cliOutput(["dev", dir]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /^error: No service found in ".*": expected a Cargo\.toml/);
    assert.match(empty.stderr, /\nTry 'jamsocket dev --help'\n$/);

    await Deno.writeTextFile(join(dir, "jamsocket.toml"), '[service]\nbuild = "x\n');
    const malformed = await cliOutput(["dev", dir]);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /^error: Invalid jamsocket\.toml line 2, column \d+: .+\nTry/);

    await Deno.writeTextFile(
      join(dir, "jamsocket.toml"),
      '[service]\nmodule = "a.wasm"\nwatch = 3\n',
    );
    const wrongType = await cliOutput(["dev", dir]);
    assert.equal(
      wrongType.stderr,
      "error: Invalid jamsocket.toml line 3: \"watch\" must be a list of paths\nTry 'jamsocket dev --help'\n",
    );

    await Deno.writeTextFile(
      join(dir, "jamsocket.toml"),
      '[service]\nbuild = "echo compiler says no >&2; exit 3"\nmodule = "a.wasm"\n',
    );
    const failing = await cliOutput(["dev", dir, "--no-watch"]);
    assert.equal(failing.code, 1, "with --no-watch, nothing will fix it");
    assert.match(
      failing.stderr,
      /^error: Build command ".*" failed in ".*" \(exit code 3\)\ncompiler says no\n/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jamsocket build says once, at its line, that an AssemblyScript console.log has no host", async () => {
  const dir = await copyProject("examples/assemblyscript");
  try {
    await edit(
      join(dir, "assembly/index.ts"),
      '    if (message == "increment")',
      '    console.log(message);\n    if (message == "increment")',
    );
    const { code, stdout, stderr } = await cliOutput(["build", dir]);
    assert.deepEqual([code, stdout], [1, ""]);
    const said = stderr.split("\n").filter((line) => line.includes("console.log"));
    assert.deepEqual(said, [
      `error: ${
        join(dir, "assembly/index.ts")
      }:15:5: "console.log" needs the import "env.console.log", which the Jamsocket host does not provide; log with trace("…") instead, which the server logs with the room id`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jamsocket dev listens on 127.0.0.1 unless --hostname says otherwise", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-dev-host-" });
  await Deno.writeTextFile(
    join(dir, "service.ts"),
    `export default class Quiet { message() {} }\n`,
  );
  const child = runCli(["dev", dir, "--port", "0", "--no-watch"]);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/listening on http:\/\/\S+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  child.kill("SIGTERM");
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel();
  await child.status;
  await Deno.remove(dir, { recursive: true });
  assert.match(out, /Jamsocket dev server listening on http:\/\/127\.0\.0\.1:\d+/);
});
