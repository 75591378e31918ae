/**
 * A WebAssembly module as sections: {@linkcode readModule} decodes what rewriters change (types,
 * imports, functions, tables, memories, globals, exports, start, elements, code bodies) and keeps
 * the rest as bytes; {@linkcode writeModule} encodes it again. Reading then writing a module
 * gives back the same bytes (when its integers are minimally encoded).
 *
 * @module
 */

import { ByteReader, ByteWriter, WasmFormatError } from "./bytes.ts";
import { readConstExpr } from "./instructions.ts";

/** Section ids, in the order a module must have them (custom sections aside). */
export const SectionId = {
  Custom: 0,
  Type: 1,
  Import: 2,
  Function: 3,
  Table: 4,
  Memory: 5,
  Tag: 13,
  Global: 6,
  Export: 7,
  Start: 8,
  Element: 9,
  DataCount: 12,
  Code: 10,
  Data: 11,
} as const;

const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/** Import and export kinds. */
export const ExternalKind = { Function: 0, Table: 1, Memory: 2, Global: 3, Tag: 4 } as const;

/** Value types, as their one-byte encodings. */
export const ValType = {
  I32: 0x7f,
  I64: 0x7e,
  F32: 0x7d,
  F64: 0x7c,
  V128: 0x7b,
  FuncRef: 0x70,
  ExternRef: 0x6f,
} as const;

const VALUE_TYPE_BYTES = new Set<number>(Object.values(ValType));

/** A function type: parameter and result value types. */
export interface FuncType {
  params: number[];
  results: number[];
}

/** An import; `type` is set for functions, `desc` holds the rest of the entry as it was. */
export interface Import {
  module: string;
  name: string;
  kind: number;
  /** The type index of an imported function. */
  type: number;
  /** The entry's description bytes (after the kind) for tables, memories and globals. */
  desc: Uint8Array;
}

/** Memory limits, in 64 KiB pages. */
export interface Limits {
  /** Bit 0: has a maximum; bit 1: shared; bit 2: 64-bit. */
  flags: number;
  min: number;
  max: number | undefined;
}

/** A table: its element type, and its limits and optional initializer as bytes. */
export interface Table {
  refType: number;
  /** The entry as it was, up to its initializer (the whole entry when it has none). */
  head: Uint8Array;
  /** The initializer expression (function references proposal form), when present. */
  init: Uint8Array | undefined;
}

/** A global: its type bytes (value type, mutability) and its initializer expression. */
export interface Global {
  type: Uint8Array;
  init: Uint8Array;
}

/** An export. */
export interface Export {
  name: string;
  kind: number;
  index: number;
}

/** An element segment (flags 0–7 as in the binary format). */
export interface Element {
  flags: number;
  table: number;
  /** Offset expression of an active segment. */
  offset: Uint8Array | undefined;
  /** Element kind byte (flags 1–3) or reference type (flags 5–7). */
  type: number;
  /** Function indices (flags 0–3). */
  funcs: number[] | undefined;
  /** Initializer expressions (flags 4–7). */
  exprs: Uint8Array[] | undefined;
}

/** A function body: its bytes (locals and instructions), and where they are in the module. */
export interface Body {
  bytes: Uint8Array;
  /** Offset of `bytes[0]` in the module. */
  offset: number;
}

/** A custom section, and the id of the standard section it followed (0: the start). */
export interface CustomSection {
  name: string;
  /** The section's content after its name. */
  bytes: Uint8Array;
  after: number;
}

/** A decoded module; see {@linkcode readModule}. */
export interface WasmModule {
  types: FuncType[];
  imports: Import[];
  /** Type index of each function the module defines. */
  functions: number[];
  tables: Table[];
  memories: Limits[];
  globals: Global[];
  exports: Export[];
  start: number | undefined;
  elements: Element[];
  dataCount: number | undefined;
  bodies: Body[];
  /** The data section's content, as it was. */
  data: Uint8Array | undefined;
  customs: CustomSection[];
  /** Standard sections the module had (kept when empty, so that bytes round-trip). */
  present: Set<number>;
}

/**
 * Decode `bytes`. Function bodies are delimited, not decoded (see `instructions.ts`).
 *
 * @throws {WasmFormatError} for bytes that are not a module this reader supports, naming the
 *   byte offset.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readModule, writeModule } from "./module.ts";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * assert.deepEqual(writeModule(readModule(empty)), empty);
 * ```
 */
export function readModule(bytes: Uint8Array): WasmModule {
  if (
    bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 ||
    bytes[3] !== 0x6d
  ) {
    throw new WasmFormatError("not a WebAssembly binary (bad magic number)");
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new WasmFormatError("unsupported WebAssembly binary version (a component?)");
  }
  const module: WasmModule = {
    types: [],
    imports: [],
    functions: [],
    tables: [],
    memories: [],
    globals: [],
    exports: [],
    start: undefined,
    elements: [],
    dataCount: undefined,
    bodies: [],
    data: undefined,
    customs: [],
    present: new Set(),
  };
  const top = new ByteReader(bytes, 8);
  let last = 0;
  while (!top.done) {
    const id = top.u8();
    const size = top.u32();
    const r = new ByteReader(bytes, top.at, top.at + size);
    if (r.end > bytes.length) throw top.error("section runs past the end of the module");
    top.at = r.end;
    if (id === SectionId.Custom) {
      const name = r.name();
      module.customs.push({ name, bytes: bytes.subarray(r.at, r.end), after: last });
      continue;
    }
    const rank = ORDER.indexOf(id);
    if (rank < 0) throw r.error(`unknown section id ${id}`, r.at - 1);
    if (rank <= ORDER.indexOf(last)) throw r.error(`section ${id} out of order`);
    last = id;
    module.present.add(id);
    readSection(module, id, r);
    if (!r.done) throw r.error(`section ${id} has trailing bytes`);
  }
  if (module.functions.length !== module.bodies.length) {
    throw new WasmFormatError(
      `${module.functions.length} functions declared but ${module.bodies.length} bodies`,
    );
  }
  return module;
}

function readSection(m: WasmModule, id: number, r: ByteReader): void {
  switch (id) {
    case SectionId.Type:
      return vec(r, () => {
        const form = r.u8();
        if (form !== 0x60) throw r.error(`unsupported type form 0x${form.toString(16)} (GC types)`);
        m.types.push({ params: valTypes(r), results: valTypes(r) });
      });
    case SectionId.Import:
      return vec(r, () => {
        const module = r.name();
        const name = r.name();
        const kind = r.u8();
        const start = r.at;
        let type = -1;
        if (kind === ExternalKind.Function) type = r.u32();
        else if (kind === ExternalKind.Table) (valType(r), limits(r));
        else if (kind === ExternalKind.Memory) limits(r);
        else if (kind === ExternalKind.Global) (valType(r), r.u8());
        else throw r.error(`unsupported import kind ${kind} for "${module}.${name}"`, start - 1);
        m.imports.push({ module, name, kind, type, desc: r.bytes.subarray(start, r.at) });
      });
    case SectionId.Function:
      return vec(r, () => void m.functions.push(r.u32()));
    case SectionId.Table:
      return vec(r, () => {
        const start = r.at;
        const withInit = r.bytes[r.at] === 0x40;
        if (withInit && (r.skip(1), r.u8()) !== 0) throw r.error("malformed table");
        const refType = valType(r);
        limits(r);
        const head = r.bytes.subarray(start, r.at);
        let init: Uint8Array | undefined;
        if (withInit) {
          const initStart = r.at;
          readConstExpr(r);
          init = r.bytes.subarray(initStart, r.at);
        }
        m.tables.push({ refType, head, init });
      });
    case SectionId.Memory:
      return vec(r, () => void m.memories.push(limits(r)));
    case SectionId.Tag:
      throw r.error("unsupported tag section (exception handling)", r.at);
    case SectionId.Global:
      return vec(r, () => {
        const start = r.at;
        valType(r);
        r.u8();
        const type = r.bytes.subarray(start, r.at);
        const exprStart = r.at;
        readConstExpr(r);
        m.globals.push({ type, init: r.bytes.subarray(exprStart, r.at) });
      });
    case SectionId.Export:
      return vec(r, () => void m.exports.push({ name: r.name(), kind: r.u8(), index: r.u32() }));
    case SectionId.Start:
      m.start = r.u32();
      return;
    case SectionId.Element:
      return vec(r, () => void m.elements.push(element(r)));
    case SectionId.DataCount:
      m.dataCount = r.u32();
      return;
    case SectionId.Code:
      return vec(r, () => {
        const size = r.u32();
        const offset = r.offset;
        m.bodies.push({ bytes: r.take(size), offset });
      });
    case SectionId.Data:
      m.data = r.bytes.subarray(r.at, r.end);
      r.at = r.end;
      return;
  }
}

function element(r: ByteReader): Element {
  const flags = r.u32();
  if (flags > 7) throw r.error(`unsupported element segment flags ${flags}`);
  const e: Element = {
    flags,
    table: 0,
    offset: undefined,
    type: 0,
    funcs: undefined,
    exprs: undefined,
  };
  const active = (flags & 1) === 0;
  if (flags & 2 && active) e.table = r.u32();
  if (active) {
    const start = r.at;
    readConstExpr(r);
    e.offset = r.bytes.subarray(start, r.at);
  }
  const usesExprs = (flags & 4) !== 0;
  // Flags 0 and 4 have no type byte (funcref implied); the others have one.
  if (flags & 3) e.type = usesExprs ? valType(r) : r.u8();
  if (usesExprs) {
    e.exprs = [];
    vec(r, () => {
      const start = r.at;
      readConstExpr(r);
      e.exprs!.push(r.bytes.subarray(start, r.at));
    });
  } else {
    e.funcs = [];
    vec(r, () => void e.funcs!.push(r.u32()));
  }
  return e;
}

function vec(r: ByteReader, item: () => void): void {
  const count = r.u32();
  for (let i = 0; i < count; i++) item();
}

function valType(r: ByteReader): number {
  const at = r.at;
  const type = r.u8();
  if (!VALUE_TYPE_BYTES.has(type)) {
    throw r.error(`unsupported value type 0x${type.toString(16)}`, at);
  }
  return type;
}

function valTypes(r: ByteReader): number[] {
  const types: number[] = [];
  vec(r, () => void types.push(valType(r)));
  return types;
}

function limits(r: ByteReader): Limits {
  const at = r.at;
  const flags = r.u8();
  if (flags & ~0x03) {
    throw r.error(
      flags & 0x04
        ? "unsupported 64-bit memory or table (memory64)"
        : `unsupported limits flags 0x${flags.toString(16)}`,
      at,
    );
  }
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return { flags, min, max };
}

/**
 * Encode `module` as a binary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readModule, writeModule } from "./module.ts";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * assert.equal(writeModule(readModule(empty)).length, 8);
 * ```
 */
export function writeModule(m: WasmModule): Uint8Array {
  const out = new ByteWriter(
    1024 + m.bodies.reduce((sum, body) => sum + body.bytes.length + 5, 0) +
      (m.data?.length ?? 0),
  );
  out.bytes([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const customs = (after: number) => {
    for (const custom of m.customs) {
      if (custom.after !== after) continue;
      const body = new ByteWriter(custom.bytes.length + 16).name(custom.name).bytes(custom.bytes);
      out.u8(0).sized(body.finish());
    }
  };
  customs(0);
  for (const id of ORDER) {
    const body = sectionBody(m, id);
    if (body === undefined) continue;
    out.u8(id).sized(body);
    customs(id);
  }
  return out.finish();
}

function sectionBody(m: WasmModule, id: number): Uint8Array | undefined {
  const keep = m.present.has(id);
  const w = new ByteWriter();
  const list = <T>(items: readonly T[], write: (item: T) => void) => {
    if (items.length === 0 && !keep) return false;
    w.u32(items.length);
    for (const item of items) write(item);
    return true;
  };
  let written = false;
  switch (id) {
    case SectionId.Type:
      written = list(m.types, (type) => {
        w.u8(0x60).u32(type.params.length).bytes(type.params);
        w.u32(type.results.length).bytes(type.results);
      });
      break;
    case SectionId.Import:
      written = list(m.imports, (i) => {
        w.name(i.module).name(i.name).u8(i.kind);
        if (i.kind === ExternalKind.Function) w.u32(i.type);
        else w.bytes(i.desc);
      });
      break;
    case SectionId.Function:
      written = list(m.functions, (type) => w.u32(type));
      break;
    case SectionId.Table:
      written = list(m.tables, (table) => {
        w.bytes(table.head);
        if (table.init) w.bytes(table.init);
      });
      break;
    case SectionId.Memory:
      written = list(m.memories, (limits) => {
        w.u8(limits.flags).u32(limits.min);
        if (limits.flags & 1) w.u32(limits.max!);
      });
      break;
    case SectionId.Global:
      written = list(m.globals, (global) => w.bytes(global.type).bytes(global.init));
      break;
    case SectionId.Export:
      written = list(m.exports, (e) => w.name(e.name).u8(e.kind).u32(e.index));
      break;
    case SectionId.Start:
      if (m.start === undefined) return undefined;
      w.u32(m.start);
      written = true;
      break;
    case SectionId.Element:
      written = list(m.elements, (e) => writeElement(w, e));
      break;
    case SectionId.DataCount:
      if (m.dataCount === undefined) return undefined;
      w.u32(m.dataCount);
      written = true;
      break;
    case SectionId.Code:
      written = list(m.bodies, (body) => w.sized(body.bytes));
      break;
    case SectionId.Data:
      if (m.data === undefined) return undefined;
      w.bytes(m.data);
      written = true;
      break;
  }
  return written ? w.finish() : undefined;
}

function writeElement(w: ByteWriter, e: Element): void {
  w.u32(e.flags);
  const active = (e.flags & 1) === 0;
  if (e.flags & 2 && active) w.u32(e.table);
  if (active) w.bytes(e.offset!);
  if (e.flags & 3) w.u8(e.type);
  if (e.exprs) {
    w.u32(e.exprs.length);
    for (const expr of e.exprs) w.bytes(expr);
  } else {
    w.u32(e.funcs!.length);
    for (const func of e.funcs!) w.u32(func);
  }
}

/** How many imports of `kind` the module has (they come first in that kind's index space). */
export function importCount(m: WasmModule, kind: number): number {
  let count = 0;
  for (const i of m.imports) if (i.kind === kind) count++;
  return count;
}

/** The type of function `index` in the function index space (imports first). */
export function funcTypeOf(m: WasmModule, index: number): FuncType {
  let seen = 0;
  for (const i of m.imports) {
    if (i.kind !== ExternalKind.Function) continue;
    if (seen++ === index) return m.types[i.type];
  }
  return m.types[m.functions[index - seen]];
}

/** The element type of table `index` (imports first). */
export function tableTypeOf(m: WasmModule, index: number): number {
  let seen = 0;
  for (const i of m.imports) {
    if (i.kind !== ExternalKind.Table) continue;
    if (seen++ === index) return i.desc[0];
  }
  return m.tables[index - seen].refType;
}

const KIND_NAMES = ["function", "table", "memory", "global"] as const;

/** A decoded module's imports and exports, as `WebAssembly.Module.imports/exports` list them. */
export function describeModule(m: WasmModule): {
  imports: { module: string; name: string; kind: (typeof KIND_NAMES)[number] }[];
  exports: { name: string; kind: (typeof KIND_NAMES)[number] }[];
} {
  return {
    imports: m.imports.map((i) => ({ module: i.module, name: i.name, kind: KIND_NAMES[i.kind] })),
    exports: m.exports.map((e) => ({ name: e.name, kind: KIND_NAMES[e.kind] })),
  };
}
