import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import { loadWasmService, WasmLoadError, type WasmServiceOptions } from "../wasm/host.ts";
import { fixture } from "./_fixtures.ts";
import { guestWat, wat } from "./_wat.ts";
import { startServer, type TestServer } from "./_server.ts";
import { TestClient } from "./_client.ts";

async function serveFixture(
  name: string,
  options: Omit<WasmServiceOptions, "logger"> = {},
): Promise<TestServer> {
  const server = startServer(() => ({}));
  const service = await loadWasmService(await fixture(name), {
    name: `${name}.wat`,
    logger: server.logger,
    ...options,
  });
  await server.server.handler.replaceService(service);
  return server;
}

/** Open a client in `room` and read the guest's greeting. */
async function greeted(server: TestServer, room: string): Promise<TestClient> {
  const client = await server.connect(room);
  assert.equal(await client.next(), "hello");
  return client;
}

/** The healthy room answers an echo, proving the server still serves other rooms. */
async function assertEchoes(client: TestClient, text: string): Promise<void> {
  client.send(text);
  assert.equal(await client.next(), text);
}

Deno.test("loadWasmService refuses modules that break the ABI, with one line naming the problem", async () => {
  const cases: [string, string][] = [
    ["wrong_version", 'export "JAMSOCKET_API_VERSION" is 2, expected 1'],
    ["wrong_protocol", 'export "JAMSOCKET_API_PROTOCOL" is 1, expected 0'],
    ["missing_export", 'missing export function "jam_malloc"'],
    [
      "command",
      'it is a WASI command (it exports "_start"), not a Jamsocket service: missing exports',
    ],
    ["missing_host_import", 'imports function "env.not_provided", which the host does not provide'],
  ];
  for (const [name, problem] of cases) {
    await assert.rejects(
      loadWasmService(await fixture(name), { name: `${name}.wasm` }),
      (error) => {
        assert.ok(error instanceof WasmLoadError);
        assert.ok(
          error.message.startsWith(`Cannot load WASM service "${name}.wasm": ${problem}`),
          error.message,
        );
        assert.doesNotMatch(error.message, /\n/);
        return true;
      },
    );
  }
});

Deno.test("loadWasmService refuses a missing file, bytes that are not WASM, and memory over the ceiling", async () => {
  await assert.rejects(
    loadWasmService("tests/fixtures/nope.wasm"),
    new WasmLoadError("nope.wasm", "file not found"),
  );
  await assert.rejects(
    loadWasmService(new TextEncoder().encode("not wasm"), { name: "text.wasm" }),
    /^WasmLoadError: Cannot load WASM service "text.wasm": not a WebAssembly binary/,
  );
  await assert.rejects(
    loadWasmService(await fixture("echo"), { name: "echo.wasm", maxMemoryPages: 0 }),
    /Cannot load WASM service "echo.wasm": its memory starts at 1 pages, over the limit of 0 pages/,
  );
});

Deno.test("a WASM guest echoes, and an empty message arrives empty through an unaligned allocator", async () => {
  await using server = await serveFixture("zero_length");
  const client = await greeted(server, "z");
  await assertEchoes(client, "");
  await assertEchoes(client, "héllo 🎉");
  await assertEchoes(client, "");
  await client.close();
});

/** Every way a guest can crash its room: the trigger, the crash kind, and the close reason. */
const CRASHES: [fixture: string, trigger: string, kind: string, reason: RegExp][] = [
  ["trap_in_message", "trap", "trap", /^WASM trap in "message": unreachable/],
  [
    "oob_send",
    "oob",
    "invalid_pointer",
    /^Guest memory range passed to "send_message" is out of bounds/,
  ],
  ["proc_exit", "exit", "exit", /^WASM guest exited with code 3 in "message"$/],
  ["hostile", "x".repeat(13), "invalid_pointer", /^Guest memory range passed to "jam_malloc"/],
];

for (const [name, trigger, kind, reason] of CRASHES) {
  Deno.test(`a guest crash (${name}) closes its room with 1011; other rooms go on; the room restarts`, async () => {
    await using server = await serveFixture(name);
    const healthy = await greeted(server, "healthy");
    const doomed = await greeted(server, "doomed");
    const neighbour = await greeted(server, "doomed");
    doomed.send(trigger);
    for (const client of [doomed, neighbour]) {
      const event = await client.waitClosed();
      assert.equal(event.code, CloseCode.InternalError);
      assert.match(event.reason, reason);
    }
    await server.logger.waitFor(new RegExp(`^error Room "doomed" crashed \\(${kind}\\): `));
    await assertEchoes(healthy, "alive");
    const again = await greeted(server, "doomed");
    await assertEchoes(again, "fresh");
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    assert.match(metrics, new RegExp(`jamsocket_room_crashes_total\\{reason="${kind}"\\} 1`));
    await Promise.all([healthy.close(), again.close()]);
  });
}

Deno.test("a guest whose initialize traps closes the connection with 1011, and the server goes on", async () => {
  await using server = await serveFixture("initialize_trap");
  const client = new TestClient(server.ws("r"));
  const event = await client.waitClosed();
  assert.equal(event.code, CloseCode.InternalError);
  assert.match(event.reason, /^WASM trap in "initialize": unreachable/);
  assert.equal(await (await fetch(`${server.http}/status`)).text(), "ok");
});

Deno.test("text that is not UTF-8 from a guest is logged and not sent; the room goes on", async () => {
  await using server = await serveFixture("invalid_utf8");
  const client = await greeted(server, "u");
  client.send("bad");
  await server.logger.waitFor(
    /^warn Room "u": the guest sent 2 bytes of text that are not valid UTF-8 to client 1; not sent$/,
  );
  await assertEchoes(client, "good");
  await client.close();
});

Deno.test("an unknown WASI import instantiates and answers ENOSYS", async () => {
  await using server = await serveFixture("unknown_import");
  const client = await greeted(server, "w");
  client.send("call");
  assert.equal(await client.next(), "52");
  await client.close();
});

Deno.test("memory.grow past the per-room ceiling fails inside the guest", async () => {
  await using server = await serveFixture("grow_memory", { maxMemoryPages: 4 });
  const client = await greeted(server, "g");
  client.send("grow");
  assert.equal(await client.next(), "grew 3");
  await assertEchoes(client, "alive");
  const other = await greeted(server, "h");
  await assertEchoes(other, "fine");
  await Promise.all([client.close(), other.close()]);
});

Deno.test("a guest may set its timer inside initialize", async () => {
  await using server = await serveFixture("set_timer");
  const client = await greeted(server, "t");
  assert.equal(await client.next(), "tick");
  assert.equal(await client.next(), "tick");
  await client.close();
});

Deno.test("a guest's out-of-bounds access and stack overflow are traps that crash only its room", async () => {
  const faults = guestWat(
    `(if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 111))   ;; "o": read past memory
       (then (drop (i32.load (i32.const 0xfffffff0)))))
     (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 115))   ;; "s": recurse forever
       (then (call $recurse)))
     (call $send (local.get $client) (local.get $ptr) (local.get $len))`,
    "",
    "(func $recurse (call $recurse))",
  );
  const server = startServer(() => ({}));
  await server.server.handler.replaceService(
    await loadWasmService(wat(faults), { logger: server.logger }),
  );
  const healthy = await server.connect("healthy");
  await assertEchoes(healthy, "fine");
  for (
    const [trigger, reason] of [
      ["oob", /^WASM trap in "message": memory access out of bounds/],
      ["stack", /^WASM trap in "message": RangeError: Maximum call stack size exceeded/],
    ] as const
  ) {
    const doomed = await server.connect(trigger);
    doomed.send(trigger);
    const event = await doomed.waitClosed();
    assert.equal(event.code, CloseCode.InternalError);
    assert.match(event.reason, reason);
    await assertEchoes(healthy, `after ${trigger}`);
  }
  await healthy.close();
  await server[Symbol.asyncDispose]();
});

Deno.test("a guest's timer of 2^32 − 1 ms waits (clamped to 2^31 − 1), in this process and in room hosts", async () => {
  const longTimer = wat(guestWat(
    `(call $set_timer (i32.const -1))
     (call $send (local.get $client) (local.get $ptr) (local.get $len))`,
    `(import "env" "set_timer" (func $set_timer (param i32)))`,
    `(data (i32.const 64) "tick")
     (func (export "timer") (call $send (i32.const 0) (i32.const 64) (i32.const 4)))`,
  ));
  for (const roomHosts of [0, 1]) {
    await using server = startServer(() => ({}), { roomHosts });
    await server.server.handler.replaceService(
      await loadWasmService(longTimer, { logger: server.logger }),
    );
    const client = await server.connect("later");
    client.send("armed");
    assert.equal(await client.next(), "armed");
    // An unclamped 49-day timer overflows setTimeout, which then fires after 1 ms.
    await assert.rejects(client.next(300), /timed out/, `a tick came (room hosts: ${roomHosts})`);
    await client.close();
  }
});
