/**
 * Glue a metered guest gets: one exported function per Jamsocket event that takes the event's
 * fuel, runs the whole event (allocating and freeing its payload too) and returns the fuel left,
 * so that an event is one call into the guest, metered from end to end, and can be suspended as
 * a whole (time slicing enters it through `WebAssembly.promising`).
 *
 * | export | does |
 * | --- | --- |
 * | `jamsocket_boot(fuel)` | the start function (moved out of the start section, so that it is metered too), then `_initialize` when exported |
 * | `jamsocket_initialize(fuel, len)` | `jam_malloc(max(len, 1))`, `jamsocket.copy_in(ptr, size)` (the host writes the room id), `initialize(ptr, len)`, `jam_free` |
 * | `jamsocket_connect(fuel, client)`, `jamsocket_disconnect(fuel, client)`, `jamsocket_timer(fuel)` | the event export |
 * | `jamsocket_message(fuel, client, len)`, `jamsocket_binary(fuel, client, len)` | as `initialize`, with the payload |
 *
 * The fuel comes first, so the host calls every entry point as `entry(fuel, a, b)` (extra
 * arguments are ignored). Each returns the fuel left.
 *
 * @module
 */

import { ByteWriter, WasmFormatError } from "./module/bytes.ts";
import { ExternalKind, type FuncType, funcTypeOf, ValType } from "./module/module.ts";
import { Op } from "./module/opcodes.ts";
import type { Metered } from "./_meter.ts";

const I32 = ValType.I32;

/** The host import the glue uses to copy a payload into guest memory: `(ptr, size) -> ()`. */
export const COPY_IN = { name: "copy_in", type: { params: [I32, I32], results: [] } } as const;

/** Events with an entry point, and the signature their export must have. */
const HOOKS = {
  connect: [I32],
  disconnect: [I32],
  timer: [],
  message: [I32, I32, I32],
  binary: [I32, I32, I32],
} as const;

/** An event a metered guest handles. */
export type HookName = keyof typeof HOOKS;

/** The export name of an event's entry point. */
export function entryName(hook: HookName | "boot" | "initialize"): string {
  return `jamsocket_${hook}`;
}

const REQUIRED: Record<string, FuncType> = {
  jam_malloc: { params: [I32], results: [I32] },
  jam_free: { params: [I32, I32], results: [] },
  initialize: { params: [I32, I32], results: [] },
  _initialize: { params: [], results: [] },
};

/**
 * Add the entry points to a metered module (after `meter`, before `finish`).
 *
 * @throws {WasmFormatError} when an ABI export has the wrong signature.
 */
export function addEntryPoints(metered: Metered): void {
  const m = metered.module;
  const g = metered.fuelGlobal;
  const exported = new Map(
    m.exports.filter((e) => e.kind === ExternalKind.Function).map((e) => [e.name, e.index]),
  );
  const func = (name: string, type: FuncType): number | undefined => {
    const index = exported.get(name);
    if (index === undefined) return undefined;
    const found = funcTypeOf(m, index);
    if (!same(found.params, type.params) || !same(found.results, type.results)) {
      throw new WasmFormatError(
        `export "${name}" has type ${show(found)}, expected ${show(type)}`,
      );
    }
    return index;
  };
  const malloc = func("jam_malloc", REQUIRED.jam_malloc);
  const free = func("jam_free", REQUIRED.jam_free);
  const initialize = func("initialize", REQUIRED.initialize);
  const initializeReactor = func("_initialize", REQUIRED._initialize);
  if (malloc === undefined || free === undefined || initialize === undefined) return;
  const copyIn = metered.hostFunctions.get(COPY_IN.name)!;

  const add = (name: string, params: number[], locals: [number, number][], code: ByteWriter) => {
    const index = metered.addFunction({ params, results: [I32] }, locals, code.finish());
    if (m.exports.some((e) => e.name === name)) {
      throw new WasmFormatError(`the module already exports "${name}"`);
    }
    m.exports.push({ name, kind: ExternalKind.Function, index });
    metered.nameFunction(index, name);
  };
  /** Set the fuel from parameter 0; after `body`, answer the fuel left. */
  const wrap = (body: (w: ByteWriter) => void) => {
    const w = new ByteWriter(64);
    w.u8(Op.LocalGet).u32(0).u8(Op.GlobalSet).u32(g);
    body(w);
    return w.u8(Op.GlobalGet).u32(g).u8(Op.End);
  };

  // Boot: the start function, then `_initialize`.
  const start = m.start;
  m.start = undefined;
  add(
    entryName("boot"),
    [I32],
    [],
    wrap((w) => {
      if (start !== undefined) w.u8(Op.Call).u32(start);
      if (initializeReactor !== undefined) w.u8(Op.Call).u32(initializeReactor);
    }),
  );

  /** An entry point that copies a payload of `len` bytes in and calls `target`. */
  const payload = (name: string, target: number, client: boolean) => {
    const len = client ? 2 : 1;
    const ptr = len + 1;
    const size = ptr + 1;
    add(
      name,
      client ? [I32, I32, I32] : [I32, I32],
      [[2, I32]],
      wrap((w) => {
        // size = len || 1; ptr = jam_malloc(size); copy_in(ptr, size)
        w.u8(Op.LocalGet).u32(len).u8(Op.I32Const).u8(1).u8(Op.LocalGet).u32(len).u8(Op.Select);
        w.u8(Op.LocalTee).u32(size).u8(Op.Call).u32(malloc).u8(Op.LocalTee).u32(ptr);
        w.u8(Op.LocalGet).u32(size).u8(Op.Call).u32(copyIn);
        if (client) w.u8(Op.LocalGet).u32(1);
        w.u8(Op.LocalGet).u32(ptr).u8(Op.LocalGet).u32(len).u8(Op.Call).u32(target);
        w.u8(Op.LocalGet).u32(ptr).u8(Op.LocalGet).u32(size).u8(Op.Call).u32(free);
      }),
    );
  };

  payload(entryName("initialize"), initialize, false);
  for (const [hook, params] of Object.entries(HOOKS) as [HookName, readonly number[]][]) {
    const target = func(hook, { params: [...params], results: [] });
    if (target === undefined) continue;
    if (hook === "message" || hook === "binary") {
      payload(entryName(hook), target, true);
      continue;
    }
    add(
      entryName(hook),
      [I32, ...params],
      [],
      wrap((w) => {
        for (let i = 1; i <= params.length; i++) w.u8(Op.LocalGet).u32(i);
        w.u8(Op.Call).u32(target);
      }),
    );
  }
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

const TYPE_NAMES: Record<number, string> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

function show(type: FuncType): string {
  const list = (types: readonly number[]) => `(${types.map((t) => TYPE_NAMES[t]).join(", ")})`;
  return `${list(type.params)} -> ${list(type.results)}`;
}
