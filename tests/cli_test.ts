import assert from "node:assert/strict";
import { TestClient } from "./_client.ts";
import { cliOutput, startCli } from "./_cli.ts";
import { serveOptionsFrom } from "../cli/serve_flags.ts";

Deno.test("jamsocket --version and --help", async () => {
  const version = await cliOutput(["--version"]);
  assert.deepEqual([version.code, version.stdout], [0, "jamsocket 0.1.0\n"]);
  const help = await cliOutput(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: jamsocket <COMMAND>$/m);
  assert.match(help.stdout, /^ {2}serve /m);
  const serveHelp = await cliOutput(["serve", "--help"]);
  assert.equal(serveHelp.code, 0);
  for (
    const flag of ["--port", "--rooms", "--heartbeat-interval", "--shutdown-policy", "--static"]
  ) {
    assert.match(serveHelp.stdout, new RegExp(flag));
  }
});

Deno.test("jamsocket help <command> prints that command's help", async () => {
  for (const command of ["serve", "dev", "build", "init"]) {
    const help = await cliOutput(["help", command]);
    const flag = await cliOutput([command, "--help"]);
    assert.equal(help.code, 0, command);
    assert.match(help.stdout, new RegExp(`^Usage: jamsocket ${command} `, "m"));
    assert.equal(help.stdout, flag.stdout, command);
  }
  const unknown = await cliOutput(["help", "launch"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: Found argument 'launch' which wasn't expected/);
});

Deno.test("a bad command line gets one error line, a pointer to --help, and exit code 2", async () => {
  const cases: [string[], string][] = [
    [["serve", "x.wasm", "--bogus"], "Found argument '--bogus' which wasn't expected"],
    [
      ["serve", "x.wasm", "--prot", "1"],
      "Found argument '--prot' which wasn't expected; did you mean '--port'?",
    ],
    [
      ["dev", ".", "--no-wach"],
      "Found argument '--no-wach' which wasn't expected; did you mean '--no-watch'?",
    ],
    [["serve", "x.wasm", "--port"], "The argument '--port' requires a value"],
    [
      ["serve", "x.wasm", "--port", "--static", "."],
      "The argument '--port' requires a value, but '--static' followed it",
    ],
    [
      ["serve", "x.wasm", "-p", "1", "--port", "2"],
      "The argument '--port' was provided more than once",
    ],
    [
      ["dev", ".", "--no-watch", "--no-watch"],
      "The argument '--no-watch' was provided more than once",
    ],
    [["dev", ".", "--no-watch=yes"], "The argument '--no-watch' takes no value"],
    [
      ["serve", "x.wasm", "--port", "abc"],
      "Invalid value for '--port': expected a number >= 0, got 'abc'",
    ],
    [
      ["serve", "x.wasm", "-p", "70000"],
      "Invalid value for '--port': expected an integer from 0 to 65535, got '70000'",
    ],
    [
      ["serve", "x.wasm", "--room-hosts", "-1"],
      "Invalid value for '--room-hosts': expected a number >= 0, got '-1'",
    ],
    [
      ["serve", "x.wasm", "--static", "/nonexistent"],
      "Invalid value for '--static': \"/nonexistent\": no such folder",
    ],
    [
      ["serve", "x.wasm", "--static", "cli.ts"],
      "Invalid value for '--static': \"cli.ts\": not a folder",
    ],
    [
      ["serve", "x.wasm", "-s", "blah"],
      "Bad shutdown policy 'blah', expected one of never, immediate, <n>sec (for integer n >= 0)",
    ],
    [
      ["serve", "x.wasm", "-r", "short99"],
      "Bad room ID strategy 'short99', expected one of implicit, api, short, short<n> (3 <= n < 13), uuid",
    ],
    [
      ["serve", "x.wasm", "--cpu-limit", "0"],
      "Invalid value for '--cpu-limit': expected a number > 0, got '0'",
    ],
    [
      ["serve", "x.wasm", "--wasm-memory-budget", "0"],
      "Invalid value for '--wasm-memory-budget': expected an integer from 1 to 1073741824, got '0'",
    ],
    [
      ["serve", "x.wasm", "--time-slice", "soon"],
      "Invalid value for '--time-slice': expected a number >= 0, got 'soon'",
    ],
    [["serve"], "The following required argument was not provided: <MODULE>"],
    [["serve", "a.wasm", "b.wasm"], "Found argument 'b.wasm' which wasn't expected"],
    [
      ["serve", "service.py"],
      'Cannot serve "service.py": expected a .wasm module or a .ts/.js module',
    ],
    [
      ["serve", "examples/counter.ts", "--hostname", "nope.invalid", "--port", "0"],
      "Invalid value for '--hostname': cannot resolve \"nope.invalid\"; use an address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface), or a name that resolves to one",
    ],
    [
      ["serve", "examples/counter.ts", "--hostname", "192.0.2.1", "--port", "0"],
      "Invalid value for '--hostname': \"192.0.2.1\" is not an address of this machine; use one it has, such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
    ],
    [["dev", "/nonexistent"], 'Cannot open "/nonexistent": no such folder'],
    [["build", "/nonexistent"], 'Cannot open "/nonexistent": no such folder'],
    [
      ["dev", "cli.ts"],
      'Cannot open "cli.ts": not a folder (give the folder that holds the service)',
    ],
  ];
  for (const [args, line] of cases) {
    const { code, stdout, stderr } = await cliOutput(args);
    const hint = `Try 'jamsocket ${args[0]} --help'`;
    assert.deepEqual([code, stderr, stdout], [2, `error: ${line}\n${hint}\n`, ""], args.join(" "));
  }
  const unknown = await cliOutput(["launch"]);
  assert.deepEqual([unknown.code, unknown.stderr], [
    2,
    "error: Found argument 'launch' which wasn't expected; the commands are init, dev, build, serve, replay\nTry 'jamsocket --help'\n",
  ]);
});

Deno.test("jamsocket serve names a port in use and how to pick another", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr as Deno.NetAddr;
    const { code, stdout, stderr } = await cliOutput([
      "serve",
      "examples/counter.ts",
      "--hostname",
      "127.0.0.1",
      "--port",
      String(port),
    ]);
    assert.deepEqual([code, stdout], [1, ""]);
    assert.equal(
      stderr,
      `error: Cannot listen on 127.0.0.1:${port}: port ${port} is in use (by another server, or another jamsocket); pass --port 0 for any free port, or choose another with --port\n`,
    );
  } finally {
    taken.close();
  }
});

Deno.test("jamsocket serve says where a .ts service fails to load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-cli-" });
  try {
    await Deno.writeTextFile(
      `${dir}/throws.ts`,
      'export default class {}\nfunction start() {\n  throw new Error("no config");\n}\nstart();\n',
    );
    await Deno.writeTextFile(`${dir}/broken.ts`, "export default class {\n  message( {\n}\n");
    await Deno.writeTextFile(`${dir}/missing.ts`, 'import "./nope.ts";\nexport default class {}\n');
    const expected: Record<string, string> = {
      "throws.ts": 'Cannot load service "throws.ts": throws.ts:3:9: Error: no config',
      "broken.ts":
        `Cannot load service "broken.ts": broken.ts:3:2: SyntaxError: Expected ',', got '<eof>'`,
      "missing.ts": 'Cannot load service "missing.ts": missing.ts:1:8: Module not found "nope.ts".',
    };
    for (const [file, line] of Object.entries(expected)) {
      const { code, stderr } = await cliOutput(["serve", file, "--port", "0"], { cwd: dir });
      assert.deepEqual([code, stderr], [1, `error: ${line}\n`], file);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Ctrl-C on jamsocket serve module.wasm with room hosts is a quiet, normal shutdown", async () => {
  const cli = await startCli(["serve", "examples/wasm/counter.wasm", "--room-hosts", "2"], {
    detached: true,
  });
  const client = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/1`);
  client.send("increment");
  assert.equal(await client.next(), "new value: 1");
  const status = await cli.interrupt();
  assert.deepEqual(await client.waitClosed().then(({ code }) => code), 1001);
  assert.equal(status.code, 0);
  assert.deepEqual(cli.lines.filter((line) => !/listening on/.test(line) && line !== ""), []);
});

Deno.test("jamsocket serve refuses a broken module before it listens, with exit code 1", async () => {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  await Deno.writeFile(path, new TextEncoder().encode("not a module"));
  const { code, stderr, stdout } = await cliOutput(["serve", path, "--port", "0"]);
  assert.equal(code, 1);
  assert.doesNotMatch(stdout, /listening/);
  assert.match(stderr, /^error: Cannot load WASM service "\w+\.wasm": not a WebAssembly binary/);
  const missing = await cliOutput(["serve", "nope.wasm"]);
  assert.deepEqual([missing.code, missing.stderr], [
    1,
    'error: Cannot load WASM service "nope.wasm": file not found\n',
  ]);
  const noDefault = await cliOutput(["serve", "util/logger.ts"]);
  assert.deepEqual([noDefault.code, noDefault.stderr], [
    1,
    'error: Cannot load service "util/logger.ts": its default export must be a service class or factory, found no default export\n',
  ]);
  await Deno.remove(path);
});

for (const module of ["examples/wasm/counter.wasm", "examples/counter.ts"]) {
  Deno.test(`jamsocket serve ${module} serves the original README session`, async () => {
    const cli = await startCli(["serve", module]);
    const status = await fetch(`http://127.0.0.1:${cli.port}/status`);
    assert.equal(await status.text(), "ok");
    const url = `ws://127.0.0.1:${cli.port}/ws/1`;
    const [a, b] = await Promise.all([TestClient.open(url), TestClient.open(url)]);
    a.send("increment");
    assert.equal(await a.next(), "new value: 1");
    assert.equal(await b.next(), "new value: 1");
    await Promise.all([a.close(), b.close()]);
    assert.equal((await cli.stop()).code, 0);
  });
}

Deno.test("serve flags --max-rooms and --static-dotfiles become server options", () => {
  const options = serveOptionsFrom({ "max-rooms": "50", "static-dotfiles": true });
  assert.equal(options.maxRooms, 50);
  assert.equal(options.staticDotFiles, true);
  assert.throws(
    () => serveOptionsFrom({ "max-rooms": "0" }),
    /Invalid value for '--max-rooms': expected an integer from 1 to 10000000, got '0'/,
  );
});

Deno.test("serve flags --max-clients, --allowed-origin (repeatable) and --list-rooms", () => {
  const options = serveOptionsFrom({
    "max-clients": "8",
    "allowed-origin": ["https://a.example", "https://b.example"],
    "list-rooms": true,
  });
  assert.equal(options.maxClients, 8);
  assert.deepEqual(options.allowedOrigins, ["https://a.example", "https://b.example"]);
  assert.equal(options.listRooms, true);
  assert.throws(
    () => serveOptionsFrom({ "max-clients": "0" }),
    /Invalid value for '--max-clients': expected an integer from 1 to 10000000, got '0'/,
  );
  assert.throws(
    () => serveOptionsFrom({ "allowed-origin": ["a.example/x"] }),
    /Not an origin: "a.example\/x"/,
  );
});
