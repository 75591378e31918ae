import assert from "node:assert/strict";
import { join } from "node:path";
import { SharedCounterServer } from "../examples/counter.ts";
import { EchoServer } from "../examples/echo.ts";
import { parseRecording, type RecordingFormatError } from "../recording/record_format.ts";
import { FLUSH_MS, Recorder } from "../recording/recorder.ts";
import type { RoomEngine, RoomEngineFactory } from "../room/room_engine.ts";
import { loadRecording, replay } from "../testing/mod.ts";
import { loadWasmService } from "../wasm/host.ts";
import {
  type JamsocketContext,
  MessageRecipient,
  type SimpleJamsocketService,
} from "../service.ts";
import { startServer } from "./_server.ts";
import { cliOutput } from "./_cli.ts";

/** The recordings in `dir`, parsed, by file name. */
async function recordings(dir: string) {
  const found = [];
  for await (const entry of Deno.readDir(dir)) found.push(join(dir, entry.name));
  return found.sort();
}

/** Serve `service` recording into a temp dir; run a counter conversation; stop. */
async function recordCounter(service: Parameters<typeof startServer>[0]): Promise<string> {
  const dir = await Deno.makeTempDir();
  {
    await using server = startServer(service, { record: dir, shutdownPolicy: "immediate" });
    const a = await server.connect("lobby");
    const b = await server.connect("lobby");
    a.send("increment");
    assert.equal(await a.nextText(), "new value: 1");
    assert.equal(await b.nextText(), "new value: 1");
    b.send("increment");
    assert.equal(await a.nextText(), "new value: 2");
    a.send("decrement");
    assert.equal(await b.nextText(), "new value: 2");
    assert.equal(await b.nextText(), "new value: 1");
    await a.close();
    await b.close();
  }
  return dir;
}

Deno.test("record: each room's inputs and outputs, in order, in one JSON Lines file", async () => {
  const dir = await recordCounter(SharedCounterServer);
  const [file] = await recordings(dir);
  assert.match(file, /\/lobby\.\d{4}-\d\d-\d\dT[\d-]+Z\.0\.jsonl$/);
  const recording = await loadRecording(file);
  assert.equal(recording.header.room, "lobby");
  assert.equal(recording.header.service, "SharedCounterServer");
  assert.deepEqual(recording.entries.map((entry) => [entry[0], ...entry.slice(2)]), [
    ["connect", 1],
    ["connect", 2],
    ["text", 1, "increment"],
    ["out:text", 0, "new value: 1"],
    ["text", 2, "increment"],
    ["out:text", 0, "new value: 2"],
    ["text", 1, "decrement"],
    ["out:text", 0, "new value: 1"],
    ["disconnect", 1],
    ["end", "closed"],
  ]);
  assert.ok(recording.complete);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("record: texts that need escaping, non-ASCII, long and empty ones, and an everyone-but recipient, come back exact", async () => {
  class Relay implements SimpleJamsocketService {
    message(client: number, text: string, ctx: JamsocketContext): void {
      ctx.sendMessage(MessageRecipient.everyoneExcept(client), text);
    }
  }
  const texts = [
    'he said "hi" \\ back',
    "tab\there, newline\n, bell\u0007",
    "naïve ☃ 😀",
    "x".repeat(300),
    "",
    "plain",
  ];
  const dir = await Deno.makeTempDir();
  {
    await using server = startServer(Relay, { record: dir, shutdownPolicy: "immediate" });
    const a = await server.connect("relay");
    const b = await server.connect("relay");
    for (const text of texts) {
      a.send(text);
      assert.equal(await b.nextText(), text);
    }
    await a.close();
    await b.close();
  }
  const [file] = await recordings(dir);
  const { entries } = await loadRecording(file);
  assert.deepEqual(
    entries.filter((entry) => entry[0] === "text" || entry[0] === "out:text").map((entry) => [
      entry[0],
      ...entry.slice(2),
    ]),
    texts.flatMap((text) => [["text", 1, text], ["out:text", -1, text]]),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replay: the same service gives the same outputs; another says where they differ", async () => {
  const dir = await recordCounter(SharedCounterServer);
  const [file] = await recordings(dir);
  const recording = await loadRecording(file);
  const same = await replay(recording, SharedCounterServer);
  assert.equal(same.difference, undefined);
  assert.equal(same.outputs.length, 3);
  const wasm = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  assert.equal((await replay(recording, wasm)).difference, undefined, "the Rust twin agrees");
  const echo = await replay(recording, EchoServer);
  assert.equal(
    echo.difference?.message,
    `Outputs first differ at output 1 (after line 4): recorded ["out:text",0,"new value: 1"], replayed ["out:text",1,"User 1 connected."]`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("record a WASM room; jamsocket replay --diff passes for the same build, fails for another", async () => {
  const wasm = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  const dir = await recordCounter(wasm);
  const [file] = await recordings(dir);
  const recording = await loadRecording(file);
  assert.equal(recording.header.service, "counter.wasm");
  assert.match(recording.header.module!, /^sha256:[0-9a-f]{64}$/);
  const same = await cliOutput([
    "replay",
    file,
    "--service",
    "examples/wasm/counter.wasm",
    "--diff",
  ]);
  assert.deepEqual([same.code, same.stdout], [
    0,
    'Replayed room "lobby": 3 outputs match the recording (7 other entries)\n',
  ]);
  const other = await cliOutput(["replay", file, "--service", "examples/echo.ts", "--diff"]);
  assert.equal(other.code, 1);
  assert.match(other.stdout, /^Outputs first differ at output 1 \(after line 4\)/);
  const printed = await cliOutput(["replay", file, "--service", "examples/counter.ts"]);
  assert.deepEqual(printed.stdout.trim().split("\n").map((line) => JSON.parse(line).at(-1)), [
    "new value: 1",
    "new value: 2",
    "new value: 1",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a corrupt recording is refused with its line and byte; a cut-off last line is dropped", async () => {
  const header =
    '{"jamsocketRecording":1,"room":"r","service":"s","started":"2026-12-02T00:00:00Z"}';
  const corrupt = `${header}\n["connect",0,1]\n["text",1,1,"hi"\n["end",2,"closed"]\n`;
  assert.throws(() => parseRecording(corrupt), (error: RecordingFormatError) => {
    assert.equal(error.line, 3);
    assert.equal(error.byte, header.length + 1 + '["connect",0,1]'.length + 1);
    assert.match(error.message, /^Recording is not readable at line 3 \(byte 99\): not JSON/);
    return true;
  });
  assert.throws(
    () => parseRecording(`${header}\n["text",1,"one"]\n`),
    /line 2 \(byte 83\): "text" has the wrong fields: \["one"\]/,
  );
  assert.throws(() => parseRecording(`${header}\n["jump",1]\n`), /unknown entry "jump"/);
  assert.throws(
    () => parseRecording(`["connect",0,1]\n`),
    /line 1 \(byte 0\): the first line must be/,
  );
  assert.throws(() => parseRecording(""), /line 1 \(byte 0\): empty/);
  const cut = parseRecording(`${header}\n["connect",0,1]\n["text",1,1,"h`);
  assert.deepEqual([cut.entries.length, cut.complete], [1, false]);
  const cli = await cliOutput(["replay", "/nonexistent.jsonl", "--service", "examples/echo.ts"]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^error: .*No such file/);
});

Deno.test("record: a room's recording stops at maxBytesPerRoom; maxFiles keeps the newest", async () => {
  const dir = await Deno.makeTempDir();
  {
    await using server = startServer(EchoServer, {
      record: { dir, maxBytesPerRoom: 1000, maxFiles: 3 },
      shutdownPolicy: "immediate",
    });
    for (let room = 0; room < 5; room++) {
      const client = await server.connect(`room-${room}`);
      assert.equal(await client.nextText(), "User 1 connected.");
      // Two bytes a character: the limit counts bytes, not characters.
      for (let i = 0; i < 20; i++) client.send("é".repeat(20));
      for (let i = 0; i < 20; i++) await client.nextText();
      await client.close();
    }
  }
  const files = await recordings(dir);
  assert.deepEqual(files.map((file) => file.split("/").at(-1)!.split(".")[0]), [
    "room-2",
    "room-3",
    "room-4",
  ]);
  for (const file of files) {
    const bytes = await Deno.readFile(file);
    const text = new TextDecoder().decode(bytes);
    const end = text.trimEnd().split("\n").at(-1)!;
    const recorded = bytes.length - new TextEncoder().encode(end).length - 1;
    assert.ok(recorded <= 1000 && recorded > 900, `${recorded} bytes before the end line`);
    assert.equal(parseRecording(text).entries.at(-1)?.[2], "size limit");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("record a WASM guest's random numbers; a replay hands them back, so the outputs match", async () => {
  const randomness = await loadWasmService(
    new URL("../examples/wasm/randomness.wasm", import.meta.url),
  );
  const dir = await Deno.makeTempDir();
  {
    await using server = startServer(randomness, { record: dir, shutdownPolicy: "immediate" });
    const a = await server.connect("dice");
    assert.match(await a.nextText(), /^User 1 connected\. Random number: \d+$/);
    const b = await server.connect("dice");
    assert.match(await b.nextText(), /^User 2 connected\. Random number: \d+$/);
    await Promise.all([a.close(), b.close()]);
  }
  const [file] = await recordings(dir);
  const recording = await loadRecording(file);
  assert.deepEqual(recording.entries.filter((e) => e[0] === "random").length, 2);
  const result = await replay(recording, randomness);
  assert.equal(result.difference, undefined);
  assert.deepEqual(result.notes, []);
  // A guest that reads more than was recorded goes on with the system's randomness, and says so.
  const fewer = parseRecording(
    (await Deno.readTextFile(file)).split("\n").filter((line) => !line.startsWith('["random"'))
      .join("\n"),
  );
  const short = await replay(fewer, randomness);
  assert.match(short.notes[0], /^The replay read 4 random bytes after the recording's 0 readings/);
  assert.match(short.difference!.message, /^Outputs first differ at output 1/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a metered guest's CPU-limit crash replays at the same instruction, on the recorded fuel", async () => {
  const spin = await loadWasmService(
    await Deno.readFile(new URL("./fixtures/spin.wasm", import.meta.url)),
    {
      name: "spin.wasm",
    },
  );
  const dir = await Deno.makeTempDir();
  {
    await using server = startServer(spin, { record: dir, cpuLimit: 0.05 });
    const client = await server.connect("r");
    client.send("echo me");
    assert.equal(await client.nextText(), "echo me");
    client.send("loop");
    const closed = await client.waitClosed();
    assert.equal(closed.code, 1011);
  }
  const [file] = await recordings(dir);
  const recording = await loadRecording(file);
  assert.equal(recording.header.cpuLimit, 0.05);
  assert.ok(recording.header.fuelPerEvent! > 0);
  const crash = recording.entries.find((entry) => entry[0] === "out:crash");
  assert.equal(crash?.[2], "cpu_limit");
  const result = await replay(recording, spin);
  assert.equal(result.difference, undefined, result.difference?.message);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("record: open rooms hold no file descriptor each (10,000 recorded rooms need no 10,000 files open)", async () => {
  const dir = await Deno.makeTempDir();
  const folder = `${Deno.realPathSync(dir)}/`;
  // Descriptors of this process open on files in the folder (other tests' sockets do not count).
  const openInFolder = () =>
    [...Deno.readDirSync("/proc/self/fd")].filter((entry) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(folder);
      } catch {
        return false; // closed meanwhile
      }
    }).length;
  {
    await using server = startServer(SharedCounterServer, { record: dir });
    const clients = [];
    for (let i = 0; i < 100; i++) clients.push(await server.connect(`room-${i}`));
    for (const client of clients) client.send("increment");
    for (const client of clients) assert.equal(await client.nextText(), "new value: 1");
    await new Promise((resolve) => setTimeout(resolve, FLUSH_MS + 100)); // past a flush
    assert.equal((await recordings(dir)).length, 100, "every room has its file");
    assert.equal(openInFolder(), 0, "descriptors open on the 100 recordings");
    await Promise.all(clients.map((client) => client.close()));
  }
  assert.equal((await recordings(dir)).length, 100);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("record: an event's outputs carry its time; an output sent later, its own", async () => {
  const dir = await Deno.makeTempDir();
  let now = 1000;
  const clock = { now: () => now, setTimeout: () => 0, clearTimeout() {} };
  const quiet = { error() {}, warn() {}, info() {}, debug() {} };
  const recorder = new Recorder({ dir }, quiet, clock);
  let later: (() => void) | undefined;
  const factory: RoomEngineFactory = (_id, output) => ({
    connect() {},
    disconnect() {},
    binary() {},
    timer() {},
    pending: 0,
    queuedBytes: 0,
    async close() {},
    message(client, text) {
      now += 5; // the event runs 5 ms before it answers
      output.send(client, `got ${text}`);
      later = () => output.send(client, "done");
    },
  } as RoomEngine);
  const engine = recorder.wrap(factory, { service: "test" })("lobby", {
    send() {},
    closeClient() {},
    setTimer() {},
    crash() {},
  });
  engine.connect(1);
  now += 10;
  engine.message(1, "hi");
  now += 20;
  later!();
  recorder.close();
  const [file] = await recordings(dir);
  const recording = await loadRecording(file);
  assert.deepEqual(recording.entries.slice(0, 4), [
    ["connect", 0, 1],
    ["text", 10, 1, "hi"],
    ["out:text", 10, 1, "got hi"],
    ["out:text", 35, 1, "done"],
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("record: a folder that goes away stops the recording with one line; the room goes on", async () => {
  const dir = await Deno.makeTempDir();
  await using server = startServer(SharedCounterServer, { record: dir });
  const client = await server.connect("lobby");
  client.send("increment");
  assert.equal(await client.nextText(), "new value: 1");
  await Deno.remove(dir, { recursive: true });
  client.send("increment");
  assert.equal(await client.nextText(), "new value: 2");
  await server.logger.waitFor(
    /^error Recording of room "lobby" at .*lobby\..*\.jsonl stopped: NotFound: /,
  );
  client.send("increment");
  assert.equal(await client.nextText(), "new value: 3");
  assert.equal(server.logger.lines.filter((line) => line.includes("Recording of")).length, 1);
  await client.close();
});
