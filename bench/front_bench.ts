/**
 * `deno bench`: the front's WebSocket data path in-process, on a fake connection (no sockets, no
 * kernel): one masked text frame in, one reply out, as in the echo scenario. The `baseline` row
 * is the same promise traffic with no WebSocket work, so the difference is what the codec and
 * the socket cost per message.
 *
 * ```sh
 * deno bench -A bench/front_bench.ts
 * ```
 *
 * @module
 */

import { ReadBuffer } from "../http/_read_buffer.ts";
import { MemoryBudget } from "../http/memory_budget.ts";
import { FrontWebSocket, type SocketHost } from "../http/websocket.ts";
import { OutputShedder } from "../http/_ws_writer.ts";
import { Heartbeats } from "../http/_ws_heartbeat.ts";

/** A connection whose reads are fed by the benchmark and whose writes complete at once. */
class FakeConn {
  #read: ((n: number | null) => void) | undefined;
  #target: Uint8Array | undefined;
  onWrite: (() => void) | undefined;

  read(buffer: Uint8Array): Promise<number | null> {
    this.#target = buffer;
    return new Promise((resolve) => this.#read = resolve);
  }

  write(buffer: Uint8Array): Promise<number> {
    this.onWrite?.();
    return Promise.resolve(buffer.length);
  }

  feed(bytes: Uint8Array): void {
    this.#target!.set(bytes);
    const resolve = this.#read!;
    this.#read = undefined;
    resolve(bytes.length);
  }

  close(): void {}
}

function maskedText(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const key = [0x12, 0x34, 0x56, 0x78];
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(key, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ key[i & 3];
  return frame;
}

const host: SocketHost = {
  input: new MemoryBudget(Infinity),
  shedder: new OutputShedder(new MemoryBudget(Infinity)),
  closeTimeoutMs: 30_000,
  heartbeats: new Heartbeats(),
  report() {},
  handlerError(error) {
    throw error;
  },
};

function echoSocket(): { conn: FakeConn; socket: FrontWebSocket } {
  const conn = new FakeConn();
  const socket = new FrontWebSocket("http://localhost/ws/bench", host, { idleTimeout: 0 });
  let value = 0;
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => {
    if (event.data === "increment") value++;
    socket.send(`new value: ${value}`);
  };
  socket.attach(conn as unknown as Deno.Conn, new ReadBuffer(host.input), () => {});
  return { conn, socket };
}

const frame = maskedText("increment");
const echo = echoSocket();
const fake = new FakeConn();
let pending: Uint8Array | undefined;
void (async () => {
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await fake.read(buffer);
    pending = buffer.subarray(0, n ?? 0);
    await fake.write(pending);
  }
})();

Deno.bench("baseline: a read and a write on the fake connection", { group: "echo" }, async () => {
  const written = new Promise<void>((resolve) => fake.onWrite = resolve);
  fake.feed(frame);
  await written;
});

Deno.bench(
  "front: one text frame in, one reply out",
  { group: "echo", baseline: true },
  async () => {
    const written = new Promise<void>((resolve) => echo.conn.onWrite = resolve);
    echo.conn.feed(frame);
    await written;
  },
);
