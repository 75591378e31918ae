/**
 * The `name` custom section, rewritten when function indices move, so that traps still name the
 * guest's functions.
 *
 * @module
 */

import { ByteReader, ByteWriter } from "./bytes.ts";

const FUNCTION_NAMES = 1;
const LOCAL_NAMES = 2;
const LABEL_NAMES = 3;

/**
 * Return the `name` section content `bytes` with every function index `i` replaced by
 * `remap(i)`, and `added` function names appended. Subsections that do not name functions are
 * kept as they are. A section that cannot be read is dropped (names are a debugging aid).
 *
 * @example
 * ```ts
 * import { remapNames } from "./names.ts";
 *
 * const section = remapNames(new Uint8Array([]), (i) => i + 1, [[5, "helper"]]);
 * ```
 */
export function remapNames(
  bytes: Uint8Array,
  remap: (func: number) => number,
  added: readonly [index: number, name: string][] = [],
): Uint8Array | undefined {
  const out = new ByteWriter(bytes.length + 64);
  let wroteFunctions = false;
  try {
    const r = new ByteReader(bytes);
    while (!r.done) {
      const id = r.u8();
      const size = r.u32();
      const sub = new ByteReader(bytes, r.at, r.at + size);
      r.skip(size);
      if (id === FUNCTION_NAMES) {
        out.u8(id).sized(nameMap(sub, remap, added));
        wroteFunctions = true;
      } else if (id === LOCAL_NAMES || id === LABEL_NAMES) {
        out.u8(id).sized(indirectNameMap(sub, remap));
      } else {
        if (!wroteFunctions && id > FUNCTION_NAMES && added.length > 0) {
          out.u8(FUNCTION_NAMES).sized(nameMap(undefined, remap, added));
          wroteFunctions = true;
        }
        out.u8(id).sized(sub.bytes.subarray(sub.at, sub.end));
      }
    }
  } catch {
    return undefined;
  }
  if (!wroteFunctions && added.length > 0) {
    out.u8(FUNCTION_NAMES).sized(nameMap(undefined, remap, added));
  }
  return out.finish();
}

/** A name map (`vec(index name)`, sorted by index) with indices remapped and names added. */
function nameMap(
  r: ByteReader | undefined,
  remap: (func: number) => number,
  added: readonly [number, string][],
): Uint8Array {
  const entries: [number, string][] = [];
  if (r) {
    const count = r.u32();
    for (let i = 0; i < count; i++) entries.push([remap(r.u32()), r.name()]);
  }
  entries.push(...added);
  const out = new ByteWriter();
  out.u32(entries.length);
  for (const [index, name] of entries) out.u32(index).name(name);
  return out.finish();
}

/** An indirect name map (`vec(index namemap)`) with the outer (function) indices remapped. */
function indirectNameMap(r: ByteReader, remap: (func: number) => number): Uint8Array {
  const out = new ByteWriter(r.end - r.at + 16);
  const count = r.u32();
  out.u32(count);
  for (let i = 0; i < count; i++) {
    out.u32(remap(r.u32()));
    const start = r.at;
    const names = r.u32();
    for (let j = 0; j < names; j++) (r.u32(), r.name());
    out.bytes(r.bytes.subarray(start, r.at));
  }
  return out.finish();
}
