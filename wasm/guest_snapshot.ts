/**
 * A guest instance's state between two events as bytes, and those bytes written back into a
 * fresh instance of the same module (see `_snapshot_layout.ts` for what the state is made of).
 *
 * Memory is saved as the bytes that differ from the module's initial image (what instantiation
 * lays out from its data segments; zero past it): pages equal to the image are skipped with one
 * `memcmp`, the others are XOR-ed with the image a word at a time, and the runs of words that
 * differ (gaps of up to 16 bytes bridged) are kept, deflated together. A fresh instance holds
 * the image, so restoring XORs each run back in place. The layout, integers little endian:
 *
 * | bytes | what |
 * | --- | --- |
 * | 4 | `JSWG` |
 * | 4 | version (1), then three zero bytes |
 * | 4 | pages of memory |
 * | 8 | the guest's monotonic clock (ms, f64) |
 * | 4 + 16 × n | n globals: index (u32), value type (u8), 3 zero bytes, value (8 bytes) |
 * | 4 + c | c bytes, raw deflate of the runs: each a byte address (u32, a multiple of 4), a length (u32, a multiple of 4), and that many bytes (the memory XOR the image) |
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { ValType } from "./module/module.ts";
import type { SavedGlobal } from "./_snapshot_layout.ts";

const MAGIC = 0x4757534a; // "JSWG" read little endian
const VERSION = 1;
const PAGE_SHIFT = 16;
const PAGE = 1 << PAGE_SHIFT;
const PAGE_WORDS = PAGE >>> 2;
const ZERO_PAGE = new Uint8Array(PAGE);
/** Zero words between two differing runs that are bridged into one run. */
const GAP_WORDS = 4;
/**
 * zlib with a 512-byte window and the smallest hash: its state is a few KiB instead of 256 KiB.
 * Each call allocates one, freed only when the garbage collector gets to it, so the default's
 * would add hundreds of MiB when many rooms hibernate at once. The runs compress about as well.
 */
const ZLIB = { windowBits: 9, memLevel: 1 } as const;
/** Scratch space of every capture (captures run one at a time): a page's XOR, the runs. */
const scratch = { xor: new Int32Array(PAGE_WORDS), runs: new Uint8Array(16384) };

/**
 * Guest state bytes that cannot be restored into this module: truncated, malformed, or made by
 * another layout of globals. The message is one line.
 *
 * @example
 * ```ts
 * import { GuestStateError } from "./guest_snapshot.ts";
 *
 * const error = new GuestStateError("truncated at byte 12 of 40");
 * ```
 */
export class GuestStateError extends Error {
  /** A one-line reason. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GuestStateError";
  }
}

/** Guest state read back from bytes, checked against the module's layout. */
export interface GuestState {
  /** Pages of memory the instance had. */
  readonly pages: number;
  /** The guest's monotonic clock when it was saved, in ms. */
  readonly monotonicMs: number;
  /** The value of each saved global, in the layout's order. */
  readonly globals: readonly (number | bigint)[];
  /** The runs of memory that differ from the initial image (checked: in bounds, ascending). */
  readonly runs: Uint8Array;
}

/** What a snapshot reads from and writes to: one instance's memory and its saved globals. */
export interface GuestParts {
  readonly memory: WebAssembly.Memory;
  /** The instance's exported globals, in the layout's order. */
  readonly globals: readonly WebAssembly.Global[];
}

/**
 * Capture `parts` (between events: nothing of the guest is running) as bytes, against the
 * module's initial memory image `baseline`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { captureGuestState, readGuestState } from "./guest_snapshot.ts";
 *
 * const memory = new WebAssembly.Memory({ initial: 2 });
 * new Uint8Array(memory.buffer)[70000] = 7;
 * const bytes = captureGuestState({ memory, globals: [] }, [], new Uint8Array(65536), 0);
 * const state = readGuestState(bytes, [], 2);
 * // One run: the word at 70000 (address, length, the word).
 * assert.deepEqual([...state.runs], [112, 17, 1, 0, 4, 0, 0, 0, 7, 0, 0, 0]);
 * ```
 */
export function captureGuestState(
  parts: GuestParts,
  layout: readonly SavedGlobal[],
  baseline: Uint8Array,
  monotonicMs: number,
): Uint8Array {
  const buffer = parts.memory.buffer;
  const memory = new Uint8Array(buffer);
  const words = new Int32Array(buffer);
  const pages = memory.length >>> PAGE_SHIFT;
  const basePages = baseline.length >>> PAGE_SHIFT;
  const image = new Int32Array(baseline.buffer, baseline.byteOffset, baseline.length >>> 2);
  const runs = new RunWriter();
  const xor = scratch.xor;
  for (let p = 0; p < pages; p++) {
    const from = p << PAGE_SHIFT;
    const page = memory.subarray(from, from + PAGE);
    const inImage = p < basePages;
    if (Buffer.compare(page, inImage ? baseline.subarray(from, from + PAGE) : ZERO_PAGE) === 0) {
      continue;
    }
    const w = p * PAGE_WORDS;
    if (inImage) {
      for (let i = 0; i < PAGE_WORDS; i++) xor[i] = words[w + i] ^ image[w + i];
    } else {
      xor.set(words.subarray(w, w + PAGE_WORDS));
    }
    runs.page(from, xor);
  }
  const compressed = deflateRawSync(runs.finish(), ZLIB);
  if (scratch.runs.length > 1 << 20) scratch.runs = new Uint8Array(16384);
  const out = new Uint8Array(24 + 16 * layout.length + 4 + compressed.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint8(4, VERSION);
  view.setUint32(8, pages, true);
  view.setFloat64(12, monotonicMs, true);
  view.setUint32(20, layout.length, true);
  let at = 24;
  layout.forEach((global, i) => {
    view.setUint32(at, global.index, true);
    view.setUint8(at + 4, global.type);
    writeValue(view, at + 8, global.type, parts.globals[i].value);
    at += 16;
  });
  view.setUint32(at, compressed.length, true);
  out.set(compressed, at + 4);
  return out;
}

/** The runs of one capture, as bytes: address, length, then the XOR-ed words (in `scratch`). */
class RunWriter {
  #bytes = scratch.runs;
  #view = new DataView(this.#bytes.buffer);
  #length = 0;

  /** Add the runs of non-zero words of `xor`, one page that starts at byte `from`. */
  page(from: number, xor: Int32Array): void {
    let i = 0;
    while (i < PAGE_WORDS) {
      if (xor[i] === 0) {
        i++;
        continue;
      }
      const start = i;
      // One past the last non-zero word; the run goes on while no gap is longer than GAP_WORDS.
      let end = i + 1;
      for (let j = end; j < PAGE_WORDS && j < end + GAP_WORDS; j++) {
        if (xor[j] !== 0) end = j + 1;
      }
      const length = (end - start) << 2;
      this.#reserve(8 + length);
      this.#view.setUint32(this.#length, from + (start << 2), true);
      this.#view.setUint32(this.#length + 4, length, true);
      this.#bytes.set(
        new Uint8Array(xor.buffer, xor.byteOffset + (start << 2), length),
        this.#length + 8,
      );
      this.#length += 8 + length;
      i = end;
    }
  }

  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + extra));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = scratch.runs = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/**
 * Read and check guest state bytes against the module's layout; `maxPages` is the most memory
 * the module's instances may have.
 *
 * @throws {GuestStateError} naming what is wrong.
 */
export function readGuestState(
  bytes: Uint8Array,
  layout: readonly SavedGlobal[],
  maxPages: number,
): GuestState {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (at: number, length: number) => {
    if (at + length > bytes.length) {
      throw new GuestStateError(
        `guest state is truncated at byte ${bytes.length} of ${at + length}`,
      );
    }
  };
  need(0, 24);
  if (view.getUint32(0, true) !== MAGIC) throw new GuestStateError("not guest state (bad magic)");
  const version = view.getUint8(4);
  if (version !== VERSION) throw new GuestStateError(`unsupported guest state version ${version}`);
  const pages = view.getUint32(8, true);
  if (pages > maxPages) {
    throw new GuestStateError(
      `guest state has ${pages} pages of memory, over the module's ${maxPages}`,
    );
  }
  const monotonicMs = view.getFloat64(12, true);
  const count = view.getUint32(20, true);
  if (count !== layout.length) {
    throw new GuestStateError(
      `guest state has ${count} mutable globals, the module ${layout.length} (another build?)`,
    );
  }
  need(24, 16 * count + 4);
  const globals: (number | bigint)[] = [];
  let at = 24;
  for (const global of layout) {
    const index = view.getUint32(at, true);
    const type = view.getUint8(at + 4);
    if (index !== global.index || type !== global.type) {
      throw new GuestStateError(
        `guest state's globals differ from the module's at global ${global.index} (another build?)`,
      );
    }
    globals.push(readValue(view, at + 8, type));
    at += 16;
  }
  const length = view.getUint32(at, true);
  at += 4;
  need(at, length);
  if (at + length !== bytes.length) {
    throw new GuestStateError(`guest state has ${bytes.length - at - length} bytes past its end`);
  }
  const memoryBytes = pages * PAGE;
  let runs: Uint8Array;
  try {
    // At most all of memory, plus a header for every run.
    const most = memoryBytes + 8 * Math.ceil(memoryBytes / ((GAP_WORDS + 1) << 2)) + 1;
    runs = inflateRawSync(bytes.subarray(at, at + length), { ...ZLIB, maxOutputLength: most });
  } catch (error) {
    throw new GuestStateError(`guest memory does not inflate: ${(error as Error).message}`, {
      cause: error,
    });
  }
  checkRuns(runs, memoryBytes);
  return { pages, monotonicMs, globals, runs };
}

/** Check that `runs` are in `[0, memoryBytes)`, word aligned, ascending and apart. */
function checkRuns(runs: Uint8Array, memoryBytes: number): void {
  const view = new DataView(runs.buffer, runs.byteOffset, runs.byteLength);
  let at = 0;
  let next = 0;
  while (at < runs.length) {
    if (at + 8 > runs.length) throw new GuestStateError("guest memory's last run is cut short");
    const address = view.getUint32(at, true);
    const length = view.getUint32(at + 4, true);
    if (address % 4 !== 0 || length % 4 !== 0 || length === 0 || address < next) {
      throw new GuestStateError(`guest memory has a malformed run at address ${address}`);
    }
    if (address + length > memoryBytes || at + 8 + length > runs.length) {
      throw new GuestStateError(`guest memory's run at address ${address} is out of bounds`);
    }
    next = address + length;
    at += 8 + length;
  }
}

/**
 * Write `state` into `parts`, a fresh instance of the module (no guest code has run in it, so
 * its memory holds the initial image). `grow(pages)` grows its memory (within the memory budget)
 * and says whether it could.
 *
 * @throws {GuestStateError} when the memory cannot grow to the saved size.
 */
export function applyGuestState(
  state: GuestState,
  parts: GuestParts,
  grow: (pages: number) => boolean,
): void {
  const current = parts.memory.buffer.byteLength >>> PAGE_SHIFT;
  if (state.pages < current) {
    throw new GuestStateError(
      `guest state has ${state.pages} pages of memory, fewer than the ${current} the module starts with`,
    );
  }
  if (state.pages > current && !grow(state.pages - current)) {
    throw new GuestStateError(
      `cannot grow memory to the saved ${state.pages} pages (memory limit or budget)`,
    );
  }
  // A fresh instance holds the image: XOR each run back in, a word at a time.
  const words = new Int32Array(parts.memory.buffer);
  const runs = state.runs;
  const view = new DataView(runs.buffer, runs.byteOffset, runs.byteLength);
  for (let at = 0; at < runs.length;) {
    const address = view.getUint32(at, true);
    const length = view.getUint32(at + 4, true);
    const w = address >>> 2;
    for (let i = 0; i < length; i += 4) words[w + (i >>> 2)] ^= view.getInt32(at + 8 + i, true);
    at += 8 + length;
  }
  state.globals.forEach((value, i) => parts.globals[i].value = value);
}

function writeValue(view: DataView, at: number, type: number, value: unknown): void {
  if (type === ValType.I32) view.setInt32(at, Number(value), true);
  else if (type === ValType.I64) view.setBigInt64(at, BigInt(value as bigint), true);
  else if (type === ValType.F32) view.setFloat32(at, Number(value), true);
  else view.setFloat64(at, Number(value), true);
}

function readValue(view: DataView, at: number, type: number): number | bigint {
  if (type === ValType.I32) return view.getInt32(at, true);
  if (type === ValType.I64) return view.getBigInt64(at, true);
  if (type === ValType.F32) return view.getFloat32(at, true);
  return view.getFloat64(at, true);
}
