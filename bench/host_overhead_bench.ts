/**
 * Per-message host overhead, in-process and without sockets (`deno bench`):
 *
 * - group `message`: one `increment` through a {@linkcode LocalEngine} running the native
 *   `SharedCounterServer` vs the same engine running the WASM counter
 *   (`examples/wasm/counter.wasm`), with a no-op room output — the cost the WASM path adds per
 *   message on top of the room core;
 * - group `guest`: the WASM counter's instance alone, by text (`message`, what in-process rooms
 *   call) and by UTF-8 bytes (`messageUtf8`, what a room host calls with a frame's payload);
 * - group `protocol`: the room host protocol (`room_host/protocol.ts`) per event — the front
 *   encoding a TEXT frame, the host decoding it, the host encoding the SEND_TEXT answer and the
 *   front decoding that, alone and as one round trip; frames go out in batches in the real
 *   path, so the batch benches encode 100 events per chunk;
 * - group `transport`: one 32-byte round trip between this process and a child Deno process,
 *   over the child's stdin/stdout (how the front talks to a room host today; the child side is
 *   `Deno.stdin`/`Deno.stdout`, which Deno serves from its blocking thread pool) vs over a Unix
 *   domain socket (epoll, like any socket).
 *
 * ```sh
 * deno bench -A bench/host_overhead_bench.ts
 * ```
 *
 * @module
 */

import { SharedCounterServer } from "../examples/counter.ts";
import { LocalEngine } from "../room/local_engine.ts";
import type { Logger } from "../util/logger.ts";
import type { RoomOutput } from "../room/room_engine.ts";
import { Frame, FrameReader, FrameWriter } from "../room_host/protocol.ts";
import { GuestInstance } from "../wasm/guest_instance.ts";
import { decodeGuestText } from "../wasm/guest_text.ts";
import { loadWasmService } from "../wasm/host.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error: (line) => console.error(line) };
let sent = 0;
const output: RoomOutput = {
  send: () => void sent++,
  closeClient() {},
  setTimer() {},
  crash(error) {
    throw error;
  },
};

const service = await loadWasmService(
  new URL("../examples/wasm/counter.wasm", import.meta.url),
  { logger: quiet },
);
const native = new LocalEngine(
  "bench",
  (roomId, ctx) => new SharedCounterServer(roomId, ctx),
  output,
  quiet,
);
const wasm = new LocalEngine("bench", service.factory, output, quiet);
native.connect(1);
wasm.connect(1);

Deno.bench({
  name: 'native counter: LocalEngine.message(1, "increment")',
  group: "message",
  baseline: true,
  fn() {
    native.message(1, "increment");
  },
});

Deno.bench({
  name: 'WASM counter: LocalEngine.message(1, "increment")',
  group: "message",
  fn() {
    wasm.message(1, "increment");
  },
});

const guest = new GuestInstance(
  { module: service.module, logger: quiet, args: [], env: {} },
  "bench",
  { sendText: () => void sent++, sendBinary() {}, setTimer() {} },
);
const incrementUtf8 = new TextEncoder().encode("increment");

Deno.bench({
  name: 'WASM guest: message(1, "increment") (text, in-process rooms)',
  group: "guest",
  baseline: true,
  fn() {
    guest.message(1, "increment");
  },
});

Deno.bench({
  name: "WASM guest: messageUtf8(1, bytes) (room host)",
  group: "guest",
  fn() {
    guest.messageUtf8(1, incrementUtf8);
  },
});

const front = new FrameWriter();
const host = new FrameWriter();
const roomKey = front.roomKey("bench-room-0001");
const hostReader = new FrameReader();
const frontReader = new FrameReader();
front.roomEvent(Frame.Text, roomKey, 1, "increment");
const textChunk = front.take();
host.roomEvent(Frame.SendText, roomKey, 0, incrementUtf8);
const sendChunk = host.take();
const answer = new TextEncoder().encode("new value: 123456");

Deno.bench({
  name: "front: encode TEXT + take (one event per chunk)",
  group: "protocol",
  baseline: true,
  fn() {
    front.roomEvent(Frame.Text, roomKey, 1, "increment");
    front.take();
  },
});

Deno.bench({
  name: "front: encode 100 TEXT + one take (batched, ×100)",
  group: "protocol",
  fn() {
    for (let i = 0; i < 100; i++) front.roomEvent(Frame.Text, roomKey, 1, "increment");
    front.take();
  },
});

Deno.bench({
  name: "host: decode TEXT (room, client, payload bytes)",
  group: "protocol",
  fn() {
    for (const frame of hostReader.push(textChunk)) {
      frame.room();
      frame.u32();
      frame.rest();
    }
  },
});

Deno.bench({
  name: "front: decode SEND_TEXT (room, recipient, validated text)",
  group: "protocol",
  fn() {
    for (const frame of frontReader.push(sendChunk)) {
      const roomId = frame.room();
      const recipient = frame.u32();
      decodeGuestText(frame.rest(), roomId, recipient, quiet);
    }
  },
});

Deno.bench({
  name: "round trip: TEXT out, decoded, SEND_TEXT back, decoded",
  group: "protocol",
  fn() {
    front.roomEvent(Frame.Text, roomKey, 1, "increment");
    for (const frame of hostReader.push(front.take())) {
      frame.room(); // the host looks the room up by id; its encoded key is cached per room
      frame.u32();
      frame.rest();
      host.roomEvent(Frame.SendText, roomKey, 0, answer);
    }
    host.count(Frame.Done, 1);
    for (const frame of frontReader.push(host.take())) {
      if (frame.type !== Frame.SendText) continue;
      const roomId = frame.room();
      const recipient = frame.u32();
      decodeGuestText(frame.rest(), roomId, recipient, quiet);
    }
  },
});

/** A child Deno process that echoes what it reads; its side of the link is `code`. */
function echoChild(code: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

const ping = new Uint8Array(32);
const stdioChild = echoChild(`
  const buffer = new Uint8Array(65536);
  for (let n; (n = await Deno.stdin.read(buffer)) !== null;) {
    for (let at = 0; at < n;) at += await Deno.stdout.write(buffer.subarray(at, n));
  }`);
const stdioWriter = stdioChild.stdin.getWriter();
const stdioReader = stdioChild.stdout.getReader();

const socketPath = await Deno.makeTempFile({ prefix: "jamsocket-bench-", suffix: ".sock" });
await Deno.remove(socketPath);
const listener = Deno.listen({ transport: "unix", path: socketPath });
const socketChild = echoChild(`
  const conn = await Deno.connect({ transport: "unix", path: ${JSON.stringify(socketPath)} });
  const buffer = new Uint8Array(65536);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    for (let at = 0; at < n;) at += await conn.write(buffer.subarray(at, n));
  }`);
const socket = await listener.accept();
const socketBuffer = new Uint8Array(65536);

Deno.bench({
  name: "child stdin → Deno.stdin / Deno.stdout → child stdout (room host today)",
  group: "transport",
  baseline: true,
  async fn() {
    await stdioWriter.write(ping);
    for (let got = 0; got < ping.length;) got += (await stdioReader.read()).value?.length ?? 0;
  },
});

Deno.bench({
  name: "Unix domain socket, both ends",
  group: "transport",
  async fn() {
    await socket.write(ping);
    for (let got = 0; got < ping.length;) got += (await socket.read(socketBuffer)) ?? 0;
  },
});

globalThis.addEventListener("unload", () => {
  for (const child of [stdioChild, socketChild]) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  try {
    Deno.removeSync(socketPath);
  } catch {
    // already gone
  }
  if (sent === 0) console.error("No message was sent: the benches measured nothing");
});
