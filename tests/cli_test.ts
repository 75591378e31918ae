import assert from "node:assert/strict";
import { TestClient } from "./_client.ts";
import { cliOutput, startCli } from "./_cli.ts";

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

Deno.test("a bad command line gets one error line and exit code 2", async () => {
  const cases: [string[], string][] = [
    [["serve", "x.wasm", "--bogus"], "error: Found argument '--bogus' which wasn't expected"],
    [["serve", "x.wasm", "--port"], "error: The argument '--port' requires a value"],
    [
      ["serve", "x.wasm", "--port", "abc"],
      "error: Invalid value for '--port': expected a number >= 0, got 'abc'",
    ],
    [
      ["serve", "x.wasm", "-p", "70000"],
      "error: Invalid value for '--port': expected an integer from 0 to 65535, got '70000'",
    ],
    [
      ["serve", "x.wasm", "-s", "blah"],
      "error: Bad shutdown policy 'blah', expected one of never, immediate, <n>sec (for integer n >= 0)",
    ],
    [
      ["serve", "x.wasm", "-r", "short99"],
      "error: Bad room ID strategy 'short99', expected one of implicit, api, short, short<n> (3 <= n < 13), uuid",
    ],
    [
      ["serve", "x.wasm", "--cpu-limit", "0"],
      "error: Invalid value for '--cpu-limit': expected a number > 0, got '0'",
    ],
    [
      ["serve", "x.wasm", "--wasm-memory-budget", "0"],
      "error: Invalid value for '--wasm-memory-budget': expected an integer from 1 to 1073741824, got '0'",
    ],
    [
      ["serve", "x.wasm", "--time-slice", "soon"],
      "error: Invalid value for '--time-slice': expected a number >= 0, got 'soon'",
    ],
    [["serve"], "error: The following required argument was not provided: <MODULE>"],
    [["serve", "a.wasm", "b.wasm"], "error: Found argument 'b.wasm' which wasn't expected"],
    [
      ["serve", "service.py"],
      'error: Cannot serve "service.py": expected a .wasm module or a .ts/.js module',
    ],
    [["launch"], "error: Found argument 'launch' which wasn't expected"],
  ];
  for (const [args, line] of cases) {
    const { code, stdout, stderr } = await cliOutput(args);
    assert.deepEqual([code, stderr, stdout], [2, `${line}\n`, ""], args.join(" "));
  }
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
    2,
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
