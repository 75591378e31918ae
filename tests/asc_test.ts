import assert from "node:assert/strict";
import { join } from "node:path";
import { buildAssemblyScript } from "../wasm/asc.ts";
import { BuildError } from "../wasm/build_error.ts";

const EXAMPLE = new URL("../examples/assemblyscript/", import.meta.url);
const WASI_MODULE = "wasi_snapshot_preview1";
const REQUIRED_EXPORTS = [
  "memory",
  "jam_malloc",
  "jam_free",
  "initialize",
  "connect",
  "disconnect",
  "message",
  "binary",
  "timer",
  "JAMSOCKET_API_VERSION",
  "JAMSOCKET_API_PROTOCOL",
];

/** Copy the example project (its sources, not its build output) into a fresh temp folder. */
async function copyExample(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket_asc_" });
  await Deno.mkdir(join(dir, "assembly"));
  await Deno.copyFile(new URL("asconfig.json", EXAMPLE), join(dir, "asconfig.json"));
  await Deno.copyFile(new URL("assembly/index.ts", EXAMPLE), join(dir, "assembly", "index.ts"));
  return dir;
}

/** A temp project holding only `assembly/index.ts`. */
async function projectWith(source: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket_asc_" });
  await Deno.mkdir(join(dir, "assembly"));
  await Deno.writeTextFile(join(dir, "assembly", "index.ts"), source);
  return dir;
}

interface Sent {
  recipient: number;
  text: string;
}

interface SentBytes {
  recipient: number;
  bytes: number[];
}

/** Instantiate a guest with a minimal host that records what it sends. */
function instantiate(module: WebAssembly.Module) {
  const sent: Sent[] = [];
  const sentBytes: SentBytes[] = [];
  const timers: number[] = [];
  // Imports run only once the instance exists: the module has no start section.
  const memory = () => instance.exports.memory as WebAssembly.Memory;
  const bytes = (ptr: number, len: number) => new Uint8Array(memory().buffer, ptr, len).slice();
  const wasi: Record<string, () => number> = {};
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.module === WASI_MODULE) wasi[entry.name] = () => 52; // ENOSYS
  }
  const instance = new WebAssembly.Instance(module, {
    env: {
      send_message: (recipient: number, ptr: number, len: number) =>
        sent.push({ recipient, text: new TextDecoder().decode(bytes(ptr, len)) }),
      send_binary: (recipient: number, ptr: number, len: number) =>
        sentBytes.push({ recipient, bytes: [...bytes(ptr, len)] }),
      set_timer: (ms: number) => timers.push(ms),
    },
    [WASI_MODULE]: wasi,
  });
  const exports = instance.exports as Record<string, unknown>;
  const call = (name: string, ...args: number[]) =>
    (exports[name] as (...args: number[]) => number)(...args);
  /** Allocate `data` in the guest, run `fn(ptr, len)`, free it: what the host does. */
  const withText = (data: string | Uint8Array, fn: (ptr: number, len: number) => void) => {
    const encoded = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const size = Math.max(encoded.length, 1);
    const ptr = call("jam_malloc", size);
    new Uint8Array(memory().buffer, ptr, encoded.length).set(encoded);
    fn(ptr, encoded.length);
    call("jam_free", ptr, size);
  };
  const readI32 = (address: number) => new DataView(memory().buffer).getInt32(address, true);
  return { exports, call, withText, readI32, sent, sentBytes, timers };
}

Deno.test("buildAssemblyScript builds the example counter into a Jamsocket module", async (t) => {
  const dir = await copyExample();
  try {
    const build = await buildAssemblyScript(dir);
    const module = await WebAssembly.compile(await Deno.readFile(build.wasmPath));

    await t.step("where asconfig.json says", () => {
      assert.equal(build.wasmPath, join(dir, "build", "counter.wasm"));
      assert.ok(build.durationMs > 0);
      assert.equal(build.output, "");
    });

    await t.step("exporting the ABI and importing only env and WASI", () => {
      const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
      for (const name of REQUIRED_EXPORTS) assert.ok(exports.has(name), `no export "${name}"`);
      assert.equal(exports.get("memory"), "memory");
      assert.equal(exports.get("JAMSOCKET_API_VERSION"), "global");
      assert.equal(exports.get("JAMSOCKET_API_PROTOCOL"), "global");
      assert.equal(exports.get("_initialize"), "function");
      assert.ok(!exports.has("_start"));
      const imports = WebAssembly.Module.imports(module);
      for (const { module: from, name } of imports) {
        const ok = from === WASI_MODULE ||
          (from === "env" && ["send_message", "send_binary", "set_timer"].includes(name));
        assert.ok(ok, `unexpected import "${from}.${name}"`);
      }
      assert.deepEqual(imports.map((i) => `${i.module}.${i.name}`), ["env.send_message"]);
    });

    await t.step("whose version globals point at 1 and 0", () => {
      const guest = instantiate(module);
      guest.call("_initialize");
      const version = (guest.exports.JAMSOCKET_API_VERSION as WebAssembly.Global).value;
      const protocol = (guest.exports.JAMSOCKET_API_PROTOCOL as WebAssembly.Global).value;
      assert.equal(guest.readI32(version), 1);
      assert.equal(guest.readI32(protocol), 0);
    });

    await t.step("that counts and broadcasts like examples/counter.ts", () => {
      const guest = instantiate(module);
      guest.call("_initialize");
      guest.withText("room-1", (ptr, len) => guest.call("initialize", ptr, len));
      guest.call("connect", 1);
      guest.call("connect", 2);
      assert.equal(guest.sent.length, 0);
      guest.withText("increment", (ptr, len) => guest.call("message", 1, ptr, len));
      assert.deepEqual(guest.sent, [{ recipient: 0, text: "new value: 1" }]);
      guest.withText("increment", (ptr, len) => guest.call("message", 2, ptr, len));
      guest.withText("decrement", (ptr, len) => guest.call("message", 1, ptr, len));
      guest.withText("", (ptr, len) => guest.call("message", 2, ptr, len));
      guest.withText("héllo ✓", (ptr, len) => guest.call("message", 2, ptr, len));
      guest.call("disconnect", 1);
      guest.call("timer");
      assert.deepEqual(guest.sent.map((s) => s.text), [
        "new value: 1",
        "new value: 2",
        "new value: 1",
        "new value: 1",
        "new value: 1",
      ]);
      assert.ok(guest.sent.every((s) => s.recipient === 0));
    });

    await t.step("that reuses memory across many messages", () => {
      const guest = instantiate(module);
      guest.call("_initialize");
      guest.withText("room-1", (ptr, len) => guest.call("initialize", ptr, len));
      guest.call("connect", 1);
      const long = "x".repeat(4096);
      for (let i = 0; i < 5000; i++) {
        const text = i % 2 ? long : "increment";
        guest.withText(text, (ptr, len) => guest.call("message", 1, ptr, len));
      }
      assert.equal(guest.sent.at(-1)?.text, "new value: 2500");
      // ~20 MiB of UTF-16 strings went through; the collector and allocator reused the memory.
      const pages = (guest.exports.memory as WebAssembly.Memory).buffer.byteLength / 65536;
      assert.ok(pages < 32, `memory grew to ${pages} pages`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript builds assembly/index.ts without asconfig.json", async () => {
  const dir = await projectWith(`
import { JamsocketContext, JamsocketService, MessageRecipient, register } from "jamsocket";
export * from "jamsocket/exports";

class Echo extends JamsocketService {
  constructor(private greeting: string) {
    super();
    this.ctx.setTimer(250);
  }
  connect(client: u32): void {
    this.ctx.sendMessage(client, this.greeting + this.ctx.roomId);
  }
  disconnect(client: u32): void {
    this.ctx.sendMessage(MessageRecipient.Broadcast, \`\${client} left, \${this.ctx.clients.length} stay\`);
  }
  message(client: u32, message: string): void {
    this.ctx.sendMessage(client, "« " + message + " »");
  }
  binary(client: u32, message: Uint8Array): void {
    this.ctx.sendBinary(client, message);
  }
  timer(): void {
    this.ctx.sendMessage(MessageRecipient.Broadcast, "tick");
  }
}

register((roomId: string, ctx: JamsocketContext) => new Echo("welcome to "));
`);
  try {
    const build = await buildAssemblyScript(dir, { optimize: false });
    assert.equal(build.wasmPath, join(dir, "build", "service.wasm"));
    const module = await WebAssembly.compile(await Deno.readFile(build.wasmPath));
    const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).sort();
    assert.deepEqual(imports, ["env.send_binary", "env.send_message", "env.set_timer"]);
    const guest = instantiate(module);
    guest.call("_initialize");
    guest.withText("lobby ✓", (ptr, len) => guest.call("initialize", ptr, len));
    assert.deepEqual(guest.timers, [250]);
    guest.call("connect", 7);
    guest.call("connect", 8);
    guest.withText("héllo 👋", (ptr, len) => guest.call("message", 8, ptr, len));
    guest.withText(new Uint8Array([0, 1, 255]), (ptr, len) => guest.call("binary", 7, ptr, len));
    guest.withText(new Uint8Array(), (ptr, len) => guest.call("binary", 8, ptr, len));
    guest.call("disconnect", 7);
    guest.call("timer");
    assert.deepEqual(guest.sent, [
      { recipient: 7, text: "welcome to lobby ✓" },
      { recipient: 8, text: "welcome to lobby ✓" },
      { recipient: 8, text: "« héllo 👋 »" },
      { recipient: 0, text: "7 left, 1 stay" },
      { recipient: 0, text: "tick" },
    ]);
    assert.deepEqual(guest.sentBytes, [
      { recipient: 7, bytes: [0, 1, 255] },
      { recipient: 8, bytes: [] },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript throws a BuildError with the compiler's diagnostics", async () => {
  const dir = await projectWith(`
import { JamsocketService, register } from "jamsocket";
export * from "jamsocket/exports";

class Broken extends JamsocketService {
  message(client: u32, message: string): void {
    const count: i32 = "not a number";
    this.ctx.sendMessage(client, message);
  }
}

register(() => new Broken());
`);
  try {
    const error = await buildAssemblyScript(dir).then(
      () => assert.fail("expected a BuildError"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof BuildError);
    assert.equal(error.name, "BuildError");
    assert.equal(error.message, `AssemblyScript build failed in "${dir}"`);
    assert.match(error.output, /TS2322/);
    assert.match(error.output, /assembly\/index\.ts\(7,/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript refuses a module without the Jamsocket exports", async () => {
  const dir = await projectWith(`export function add(a: i32, b: i32): i32 {
  return a + b;
}
`);
  try {
    await assert.rejects(buildAssemblyScript(dir, { optimize: false }), (error: unknown) => {
      assert.ok(error instanceof BuildError);
      assert.match(error.message, /does not export "jam_malloc"/);
      assert.match(error.message, /export \* from "jamsocket\/exports"/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript refuses a module importing what the host lacks", async () => {
  const dir = await projectWith(`
import { JamsocketService, register } from "jamsocket";
export * from "jamsocket/exports";

class Logger extends JamsocketService {
  message(client: u32, message: string): void {
    console.log(message);
  }
}

register(() => new Logger());
`);
  try {
    await assert.rejects(buildAssemblyScript(dir, { optimize: false }), (error: unknown) => {
      assert.ok(error instanceof BuildError);
      assert.equal(
        error.message,
        'assembly/index.ts:7:5: "console.log" needs the import "env.console.log", which the ' +
          'Jamsocket host does not provide; log with trace("…") instead, which the server logs ' +
          "with the room id",
      );
      assert.doesNotMatch(error.output, /console\.log/, "said once, in the message");
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript names a folder without an entry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket_asc_" });
  try {
    await assert.rejects(buildAssemblyScript(dir), (error: unknown) => {
      assert.ok(error instanceof BuildError);
      assert.equal(
        error.message,
        `AssemblyScript build failed in "${dir}": no "entries" in asconfig.json and no ` +
          "assembly/index.ts",
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
