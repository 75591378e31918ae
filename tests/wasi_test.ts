import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import { loadWasmService, type WasmServiceOptions } from "../wasm/host.ts";
import { startServer, type TestServer } from "./_server.ts";
import { guestWat, wat } from "./_wat.ts";
import type { TestClient } from "./_client.ts";

const WASI = (name: string, params: string, result = "(result i32)") =>
  `(import "wasi_snapshot_preview1" "${name}" (func $${name} (param ${params}) ${result}))`;

/** Serve a guest built from `body` and open a client in room "w". */
async function guest(
  body: string,
  imports: string,
  options: Omit<WasmServiceOptions, "logger"> = {},
): Promise<{ server: TestServer; client: TestClient }> {
  const server = startServer(() => ({}));
  const service = await loadWasmService(wat(guestWat(body, imports)), {
    ...options,
    logger: server.logger,
  });
  await server.server.handler.replaceService(service);
  return { server, client: await server.connect("w") };
}

/** Send `text` to the guest and read the binary frame it answers with. */
async function binaryAnswer(client: TestClient, text = "go"): Promise<DataView> {
  client.send(text);
  const frame = await client.next();
  assert.ok(frame instanceof Uint8Array, `expected bytes, got ${JSON.stringify(frame)}`);
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
}

/** Send the `len` bytes at `ptr` to the client as binary. */
const SEND_BYTES = (ptr: number, len: number) =>
  `(call $send_binary (local.get $client) (i32.const ${ptr}) (i32.const ${len}))`;

Deno.test("WASI fd_write logs stdout and stderr line by line, prefixed with the room id", async () => {
  const { server, client } = await guest(
    `(i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 9))
     (i32.store (i32.const 8) (i32.const 109)) (i32.store (i32.const 12) (i32.const 3))
     (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 200)))
     (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 200)))
     (drop (call $fd_write (i32.const 2) (i32.const 8) (i32.const 1) (i32.const 200)))
     ${SEND_BYTES(200, 4)}`,
    `${WASI("fd_write", "i32 i32 i32 i32")} (data (i32.const 100) "hello\\nworld\\n")`,
  );
  const written = await binaryAnswer(client);
  assert.equal(written.getUint32(0, true), 3);
  await server.logger.waitFor(/^info Room "w" stdout: hello$/);
  await server.logger.waitFor(/^info Room "w" stdout: world$/);
  await server.logger.waitFor(/^warn Room "w" stderr: hello$/);
  await client.close();
  await server[Symbol.asyncDispose]();
});

Deno.test("WASI clock_time_get reads the realtime and monotonic clocks in nanoseconds", async () => {
  const { server, client } = await guest(
    `(drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0)))
     (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8)))
     ${SEND_BYTES(0, 16)}`,
    WASI("clock_time_get", "i32 i64 i32"),
  );
  const before = BigInt(Date.now()) * 1_000_000n;
  const clocks = await binaryAnswer(client);
  const after = BigInt(Date.now()) * 1_000_000n;
  const realtime = clocks.getBigUint64(0, true);
  assert.ok(realtime >= before - 5_000_000n && realtime <= after + 5_000_000n, `${realtime}`);
  assert.ok(clocks.getBigUint64(8, true) > 0n);
  await client.close();
  await server[Symbol.asyncDispose]();
});

Deno.test("WASI random_get fills the buffer with fresh randomness each call", async () => {
  const { server, client } = await guest(
    `(drop (call $random_get (i32.const 0) (i32.const 16))) ${SEND_BYTES(0, 16)}`,
    WASI("random_get", "i32 i32"),
  );
  const first = new Uint8Array((await binaryAnswer(client)).buffer.slice(0));
  const second = new Uint8Array((await binaryAnswer(client)).buffer.slice(0));
  assert.notDeepEqual(first, new Uint8Array(16));
  assert.notDeepEqual(first, second);
  await client.close();
  await server[Symbol.asyncDispose]();
});

Deno.test("WASI environ and args are empty unless configured", async () => {
  const body = `(drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
     (drop (call $environ_get (i32.const 8) (i32.const 100)))
     (drop (call $args_sizes_get (i32.const 12) (i32.const 16)))
     ${SEND_BYTES(0, 20)} ${SEND_BYTES(100, 8)}`;
  const imports = [
    WASI("environ_sizes_get", "i32 i32"),
    WASI("environ_get", "i32 i32"),
    WASI("args_sizes_get", "i32 i32"),
  ].join(" ");
  const configured = await guest(body, imports, { env: { CLOCK: "50" }, args: ["a", "bc"] });
  const sizes = await binaryAnswer(configured.client);
  assert.deepEqual([0, 4, 8, 12, 16].map((at) => sizes.getUint32(at, true)), [1, 9, 100, 2, 5]);
  const text = await configured.client.next();
  assert.equal(new TextDecoder().decode(text as Uint8Array), "CLOCK=50");
  await configured.client.close();
  await configured.server[Symbol.asyncDispose]();

  const empty = await guest(body, imports);
  const none = await binaryAnswer(empty.client);
  assert.deepEqual([0, 4, 12, 16].map((at) => none.getUint32(at, true)), [0, 0, 0, 0]);
  await empty.client.close();
  await empty.server[Symbol.asyncDispose]();
});

Deno.test("WASI answers ENOSYS for functions it does not implement and EFAULT for bad pointers", async () => {
  const { server, client } = await guest(
    `(i32.store (i32.const 0) (call $path_open (i32.const 3) (i32.const 0) (i32.const 0)
       (i32.const 0) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
     (i32.store (i32.const 4) (call $random_get (i32.const -16) (i32.const 100)))
     (i32.store (i32.const 8) (call $fd_write (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 0)))
     ${SEND_BYTES(0, 12)}`,
    [
      WASI("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32"),
      WASI("random_get", "i32 i32"),
      WASI("fd_write", "i32 i32 i32 i32"),
    ].join(" "),
  );
  const errnos = await binaryAnswer(client);
  assert.deepEqual([0, 4, 8].map((at) => errnos.getUint32(at, true)), [52, 21, 8]);
  await client.close();
  await server[Symbol.asyncDispose]();
});

Deno.test("WASI proc_exit crashes the room with 1011 and the exit code", async () => {
  const { server, client } = await guest(
    `(call $proc_exit (i32.const 3))`,
    `(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))`,
  );
  client.send("bye");
  const event = await client.waitClosed();
  assert.equal(event.code, CloseCode.InternalError);
  assert.equal(event.reason, 'WASM guest exited with code 3 in "message"');
  await server.logger.waitFor(/^error Room "w" crashed \(exit\)/);
  await server[Symbol.asyncDispose]();
});
