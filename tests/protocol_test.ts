import assert from "node:assert/strict";
import { Frame, FrameReader, FrameWriter } from "../room_host/protocol.ts";

/** A stream of assorted frames, and what each should read back as. */
function sample(): { bytes: Uint8Array; expected: string[] } {
  const writer = new FrameWriter();
  const lobby = writer.roomKey("lobby", 7);
  const other = writer.roomKey("salle ✓", 0xffff_ffff);
  writer.roomEvent(Frame.Open, lobby);
  writer.roomEvent(Frame.Text, lobby, 3, "hi ✓");
  writer.roomEvent(Frame.Binary, other, 1, new Uint8Array([1, 2, 3]));
  writer.count(Frame.Done, 42);
  writer.roomEvent(Frame.Text, other, 2, "x".repeat(300));
  writer.empty(Frame.Ready);
  return {
    bytes: writer.take(),
    expected: [
      "2 7 lobby",
      "5 7 lobby 3 hi ✓",
      "6 4294967295 salle ✓ 1 1,2,3",
      "23 42",
      `5 4294967295 salle ✓ 2 ${"x".repeat(300)}`,
      "16",
    ],
  };
}

/** Read `chunks` and describe each frame as `sample()` does. */
function readAll(chunks: Uint8Array[]): string[] {
  const reader = new FrameReader();
  const out: string[] = [];
  for (const chunk of chunks) {
    for (const frame of reader.push(chunk)) {
      if (frame.type === Frame.Done) out.push(`23 ${frame.u32()}`);
      else if (frame.type === Frame.Ready) out.push("16");
      else {
        const room = `${frame.type} ${frame.room()} ${frame.roomId}`;
        if (frame.type === Frame.Open) out.push(room);
        else if (frame.type === Frame.Text) out.push(`${room} ${frame.u32()} ${frame.text()}`);
        else out.push(`${room} ${frame.u32()} ${frame.rest().join(",")}`);
      }
    }
    // Whatever the reader holds, it must not depend on the chunk it was given.
    chunk.fill(0xee);
  }
  assert.equal(reader.buffered, 0, "bytes left over");
  return out;
}

Deno.test("FrameReader reads the same frames wherever the stream is cut", () => {
  const { bytes, expected } = sample();
  assert.deepEqual(readAll([bytes.slice()]), expected);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(readAll([bytes.slice(0, cut), bytes.slice(cut)]), expected, `cut at ${cut}`);
  }
  const bytewise = Array.from(bytes, (byte) => new Uint8Array([byte]));
  assert.deepEqual(readAll(bytewise), expected);
  const three = [bytes.slice(0, 3), bytes.slice(3, 40), bytes.slice(40, 41), bytes.slice(41)];
  assert.deepEqual(readAll(three), expected);
});

Deno.test("FrameReader gathers a 64 MiB frame from 64 KiB chunks in linear time", () => {
  const size = 64 * 1024 * 1024;
  const writer = new FrameWriter();
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) payload[i] = i >> 12;
  writer.roomEvent(Frame.SendBinary, writer.roomKey("big", 1), 0, payload);
  writer.count(Frame.Done, 1);
  const bytes = writer.take();
  const reader = new FrameReader();
  const started = performance.now();
  const frames: string[] = [];
  for (let at = 0; at < bytes.length; at += 64 * 1024) {
    for (const frame of reader.push(bytes.subarray(at, at + 64 * 1024))) {
      if (frame.type === Frame.Done) {
        frames.push(`done ${frame.u32()}`);
        continue;
      }
      frame.room();
      frame.u32();
      const rest = frame.rest();
      assert.equal(rest.length, size);
      for (let i = 0; i < size; i += 4096) assert.equal(rest[i], (i >> 12) & 0xff);
      frames.push(`binary ${frame.roomId}`);
    }
  }
  const ms = performance.now() - started;
  assert.deepEqual(frames, ["binary big", "done 1"]);
  // About 0.1 s; a reader that copies what it holds again on every chunk takes about 20 s.
  assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("FrameReader refuses a frame of length 0", () => {
  const reader = new FrameReader();
  assert.throws(() => [...reader.push(new Uint8Array(8))], /a frame has length 0/);
});

Deno.test("FrameCursor.isRoom tells incarnations and ids apart", () => {
  const writer = new FrameWriter();
  const key = writer.roomKey("lobby", 2);
  writer.roomEvent(Frame.Closed, key);
  const [frame] = [...new FrameReader().push(writer.take())];
  assert.equal(frame.room(), 2);
  assert.equal(frame.isRoom(key), true);
  assert.equal(frame.isRoom(writer.roomKey("lobby", 3)), false);
  assert.equal(frame.isRoom(writer.roomKey("lobbx", 2)), false);
  assert.equal(frame.isRoom(writer.roomKey("lobby!", 2)), false);
  assert.deepEqual(frame.roomKey(), key);
});

Deno.test("FrameWriter hands over a large frame without copying, and never writes over it", () => {
  const writer = new FrameWriter();
  const key = writer.roomKey("r", 1);
  writer.roomEvent(Frame.Binary, key, 1, new Uint8Array(8 * 1024 * 1024).fill(7));
  const large = writer.take();
  assert.equal(large.length, 4 + 1 + key.length + 4 + 8 * 1024 * 1024);
  // Frames written afterwards go to a fresh buffer, not over the bytes handed out.
  writer.roomEvent(Frame.Text, key, 2, "x".repeat(1024 * 1024));
  assert.equal(writer.take()[4], Frame.Text);
  assert.equal(large[4], Frame.Binary);
  assert.equal(large.at(-1), 7);
  assert.equal(large.subarray(16).every((byte) => byte === 7), true);
});
