/**
 * Give a module's own memory a maximum, by rewriting its memory section, so that `memory.grow`
 * past the per-room ceiling fails inside the guest instead of growing the host.
 *
 * @module
 */

const MEMORY_SECTION = 5;
const HAS_MAXIMUM = 0x01;
const UNSUPPORTED = 0x02 | 0x04; // shared, memory64

/** What {@linkcode limitMemory} found wrong with a module; the message is one line. */
export class MemoryLimitError extends Error {
  /** A module that cannot run under the ceiling. */
  constructor(message: string) {
    super(message);
    this.name = "MemoryLimitError";
  }
}

/**
 * Return `bytes` with the maximum of its (one, exported-or-not) memory set to at most
 * `maxPages` 64 KiB pages. A module without a memory section is returned as it is.
 *
 * @throws {MemoryLimitError} when the memory starts bigger than the ceiling, is shared or 64-bit,
 *   or the module is not a WebAssembly binary.
 */
export function limitMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73) {
    throw new MemoryLimitError("not a WebAssembly binary (bad magic number)");
  }
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, sizeEnd] = readLeb(bytes, at + 1);
    const contentEnd = sizeEnd + size;
    if (contentEnd > bytes.length) throw new MemoryLimitError("truncated section");
    if (id === MEMORY_SECTION) {
      const section = rewriteMemorySection(bytes.subarray(sizeEnd, contentEnd), maxPages);
      const header = [MEMORY_SECTION, ...writeLeb(section.length)];
      const out = new Uint8Array(at + header.length + section.length + bytes.length - contentEnd);
      out.set(bytes.subarray(0, at));
      out.set(header, at);
      out.set(section, at + header.length);
      out.set(bytes.subarray(contentEnd), at + header.length + section.length);
      return out;
    }
    at = contentEnd;
  }
  return bytes;
}

function rewriteMemorySection(content: Uint8Array, maxPages: number): Uint8Array {
  const [count, countEnd] = readLeb(content, 0);
  if (count !== 1) throw new MemoryLimitError(`declares ${count} memories, expected 1`);
  const flags = content[countEnd];
  if (flags & UNSUPPORTED) throw new MemoryLimitError("its memory is shared or 64-bit");
  const [min, minEnd] = readLeb(content, countEnd + 1);
  if (min > maxPages) {
    throw new MemoryLimitError(
      `its memory starts at ${min} pages, over the limit of ${maxPages} pages`,
    );
  }
  let max = maxPages;
  let end = minEnd;
  if (flags & HAS_MAXIMUM) {
    const [declared, maxEnd] = readLeb(content, minEnd);
    max = Math.min(declared, maxPages);
    end = maxEnd;
  }
  return Uint8Array.from([
    ...writeLeb(1),
    flags | HAS_MAXIMUM,
    ...writeLeb(min),
    ...writeLeb(max),
    ...content.subarray(end),
  ]);
}

function readLeb(bytes: Uint8Array, at: number): [value: number, end: number] {
  let value = 0;
  let shift = 0;
  while (true) {
    if (at >= bytes.length || shift > 28) throw new MemoryLimitError("malformed LEB128 number");
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}
