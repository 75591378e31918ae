/**
 * A guest instance's state between two events as bytes, and those bytes written back into a
 * fresh instance of the same module (see `_snapshot_layout.ts` for what the state is made of).
 *
 * Memory is saved by 64 KiB page: only pages that differ from the module's initial image (what
 * instantiation lays out from its data segments; zero past it) are kept, each XOR-ed with the
 * image so that a page with a few changed bytes is mostly zeros, and all of them are deflated
 * together. The layout, all integers little endian:
 *
 * | bytes | what |
 * | --- | --- |
 * | 4 | `JSWG` |
 * | 4 | version (1), then three zero bytes |
 * | 4 | pages of memory |
 * | 8 | the guest's monotonic clock (ms, f64) |
 * | 4 + 16 × n | n globals: index (u32), value type (u8), 3 zero bytes, value (8 bytes) |
 * | 4 + 4 × k | k changed pages, ascending |
 * | 4 + c | c bytes: the changed pages, XOR-ed with the image, deflated (raw deflate) |
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
const ZERO_PAGE = new Uint8Array(PAGE);

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
  /** The pages that differ from the initial image, ascending. */
  readonly changed: readonly number[];
  /** Those pages, XOR-ed with the image (64 KiB each, in the same order). */
  readonly delta: Uint8Array;
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
 * assert.deepEqual(state.changed, [1]);
 * ```
 */
export function captureGuestState(
  parts: GuestParts,
  layout: readonly SavedGlobal[],
  baseline: Uint8Array,
  monotonicMs: number,
): Uint8Array {
  const memory = new Uint8Array(parts.memory.buffer);
  const pages = memory.length >>> PAGE_SHIFT;
  const basePages = baseline.length >>> PAGE_SHIFT;
  const changed: number[] = [];
  for (let p = 0; p < pages; p++) {
    const page = memory.subarray(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT);
    const image = p < basePages
      ? baseline.subarray(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT)
      : ZERO_PAGE;
    if (Buffer.compare(page, image) !== 0) changed.push(p);
  }
  const delta = new Uint8Array(changed.length << PAGE_SHIFT);
  changed.forEach((p, i) => {
    const at = i << PAGE_SHIFT;
    delta.set(memory.subarray(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT), at);
    if (p < basePages) xorInto(delta, at, baseline, p << PAGE_SHIFT);
  });
  const compressed = deflateRawSync(delta);
  const size = 24 + 16 * layout.length + 4 + 4 * changed.length + 4 + compressed.length;
  const out = new Uint8Array(size);
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
  view.setUint32(at, changed.length, true);
  at += 4;
  for (const p of changed) {
    view.setUint32(at, p, true);
    at += 4;
  }
  view.setUint32(at, compressed.length, true);
  out.set(compressed, at + 4);
  return out;
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
  const changedCount = view.getUint32(at, true);
  at += 4;
  if (changedCount > pages) {
    throw new GuestStateError(`guest state lists ${changedCount} changed pages of ${pages}`);
  }
  need(at, 4 * changedCount + 4);
  const changed: number[] = [];
  for (let i = 0; i < changedCount; i++, at += 4) {
    const p = view.getUint32(at, true);
    if (p >= pages || (i > 0 && p <= changed[i - 1])) {
      throw new GuestStateError(`guest state lists page ${p} out of order or past ${pages} pages`);
    }
    changed.push(p);
  }
  const length = view.getUint32(at, true);
  at += 4;
  need(at, length);
  if (at + length !== bytes.length) {
    throw new GuestStateError(`guest state has ${bytes.length - at - length} bytes past its end`);
  }
  const expected = changedCount << PAGE_SHIFT;
  let delta: Uint8Array;
  try {
    delta = inflateRawSync(bytes.subarray(at, at + length), { maxOutputLength: expected || 1 });
  } catch (error) {
    throw new GuestStateError(`guest memory does not inflate: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (delta.length !== expected) {
    throw new GuestStateError(
      `guest memory inflates to ${delta.length} bytes, expected ${expected}`,
    );
  }
  return { pages, monotonicMs, globals, changed, delta };
}

/**
 * Write `state` into `parts`, a fresh instance of the module whose initial memory image is
 * `baseline` (no guest code has run in it). `grow(pages)` grows its memory (within the memory
 * budget) and says whether it could.
 *
 * @throws {GuestStateError} when the memory cannot grow to the saved size.
 */
export function applyGuestState(
  state: GuestState,
  parts: GuestParts,
  baseline: Uint8Array,
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
  const memory = new Uint8Array(parts.memory.buffer);
  const basePages = baseline.length >>> PAGE_SHIFT;
  state.changed.forEach((p, i) => {
    const at = p << PAGE_SHIFT;
    memory.set(state.delta.subarray(i << PAGE_SHIFT, (i + 1) << PAGE_SHIFT), at);
    if (p < basePages) xorInto(memory, at, baseline, at);
  });
  state.globals.forEach((value, i) => parts.globals[i].value = value);
}

/** `target[at, at + 64 KiB) ^= source[from, from + 64 KiB)`, a word at a time. */
function xorInto(target: Uint8Array, at: number, source: Uint8Array, from: number): void {
  const t = new Int32Array(target.buffer, target.byteOffset + at, PAGE >>> 2);
  const s = new Int32Array(source.buffer, source.byteOffset + from, PAGE >>> 2);
  for (let i = 0; i < t.length; i++) t[i] ^= s[i];
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
