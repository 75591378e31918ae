/**
 * The room host protocol's frame reader (`room_host/protocol.ts`) on the two shapes a stream
 * takes (`deno bench`), each fed in 64 KiB chunks as a Unix socket delivers it:
 *
 * - one 16 MiB frame (a guest's large message): the reader must reassemble it once, not copy
 *   what it holds again on every chunk;
 * - 10,000 frames of 100 bytes (a busy host's ordinary traffic), which mostly fall whole inside
 *   a chunk and should be read in place.
 *
 * ```sh
 * deno bench bench/frame_reader_bench.ts
 * ```
 *
 * @module
 */

import { FrameReader } from "../room_host/protocol.ts";

const CHUNK = 64 * 1024;

/** `count` frames of type 5 with `size` bytes after the length field, as one stream. */
function stream(count: number, size: number): Uint8Array {
  const bytes = new Uint8Array(count * (4 + size));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    view.setUint32(i * (4 + size), size, true);
    bytes[i * (4 + size) + 4] = 5;
  }
  return bytes;
}

/** `bytes` cut into chunks of `size`. */
function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.slice(at, at + size));
  return out;
}

const large = chunks(stream(1, 16 * 1024 * 1024), CHUNK);
const small = chunks(stream(10_000, 100), CHUNK);

/** Read every chunk; returns the frames and bytes seen, checked so nothing is optimized away. */
function read(chunkList: Uint8Array[]): [frames: number, bytes: number] {
  const reader = new FrameReader();
  let frames = 0;
  let bytes = 0;
  for (const chunk of chunkList) {
    for (const frame of reader.push(chunk)) {
      if (frame.type !== 5) throw new Error(`frame type ${frame.type}`);
      frames++;
      bytes += frame.rest().length;
    }
  }
  return [frames, bytes];
}

Deno.bench({
  name: "one 16 MiB frame in 64 KiB chunks",
  group: "large",
  fn() {
    const [frames, bytes] = read(large);
    if (frames !== 1 || bytes !== 16 * 1024 * 1024 - 1) throw new Error(`${frames} ${bytes}`);
  },
});

Deno.bench({
  name: "10,000 frames of 100 bytes in 64 KiB chunks",
  group: "small",
  fn() {
    const [frames, bytes] = read(small);
    if (frames !== 10_000 || bytes !== 10_000 * 99) throw new Error(`${frames} ${bytes}`);
  },
});
