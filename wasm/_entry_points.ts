/**
 * Glue a metered guest gets: one exported function, `jamsocket_event(fuel, kind, a, b)`, that
 * takes an event's fuel, runs the whole event (allocating, filling and freeing its payload too)
 * and returns the fuel left. An event is then one call into the guest, metered from end to end,
 * and one `WebAssembly.promising` wrapper per instance (they cost ≈ 3 µs each to make) serves
 * every event when time slicing.
 *
 * | kind | event | does |
 * | --- | --- | --- |
 * | 0 | start-up | the start function (moved out of the start section, so that it is metered too), `_initialize` when exported, then `jam_malloc(max(len, 1))`, `jamsocket.copy_in(ptr, size)` (the host writes the room id), `initialize(ptr, len)`, `jam_free`; `a` = len |
 * | 1, 2 | connect, disconnect | the export, with client `a` |
 * | 3, 4 | message, binary | as the start-up's `initialize`, with client `a` and a payload of `b` bytes |
 * | 5 | timer | the export |
 *
 * A kind whose export the module lacks does nothing.
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

/** The export the host calls for every event. */
export const EVENT_EXPORT = "jamsocket_event";

/** The `kind` argument of {@linkcode EVENT_EXPORT}. */
export const EventKind = {
  StartUp: 0,
  Connect: 1,
  Disconnect: 2,
  Message: 3,
  Binary: 4,
  Timer: 5,
} as const;

const REQUIRED: Record<string, FuncType> = {
  jam_malloc: { params: [I32], results: [I32] },
  jam_free: { params: [I32, I32], results: [] },
  initialize: { params: [I32, I32], results: [] },
  _initialize: { params: [], results: [] },
  connect: { params: [I32], results: [] },
  disconnect: { params: [I32], results: [] },
  message: { params: [I32, I32, I32], results: [] },
  binary: { params: [I32, I32, I32], results: [] },
  timer: { params: [], results: [] },
};

/**
 * Add the event entry point to a metered module (after `meter`, before `finish`).
 *
 * @throws {WasmFormatError} when an ABI export has the wrong signature.
 */
export function addEntryPoints(metered: Metered): void {
  const m = metered.module;
  const g = metered.fuelGlobal;
  const exported = new Map(
    m.exports.filter((e) => e.kind === ExternalKind.Function).map((e) => [e.name, e.index]),
  );
  const func = (name: string): number | undefined => {
    const index = exported.get(name);
    if (index === undefined) return undefined;
    const found = funcTypeOf(m, index);
    const type = REQUIRED[name];
    if (!same(found.params, type.params) || !same(found.results, type.results)) {
      throw new WasmFormatError(
        `export "${name}" has type ${show(found)}, expected ${show(type)}`,
      );
    }
    return index;
  };
  const malloc = func("jam_malloc");
  const free = func("jam_free");
  const initialize = func("initialize");
  if (malloc === undefined || free === undefined || initialize === undefined) return;
  const copyIn = metered.hostFunctions.get(COPY_IN.name)!;
  if (m.exports.some((e) => e.name === EVENT_EXPORT)) {
    throw new WasmFormatError(`the module already exports "${EVENT_EXPORT}"`);
  }

  // Parameters: fuel, kind, a, b; locals: ptr, size.
  const [KIND, A, B, PTR, SIZE] = [1, 2, 3, 4, 5];
  const w = new ByteWriter(256);
  /** Copy a payload of `len` bytes in (local `len`) and call `target(client?, ptr, len)`. */
  const payload = (target: number, len: number, client: number | undefined) => {
    // size = len || 1; ptr = jam_malloc(size); copy_in(ptr, size)
    w.u8(Op.LocalGet).u32(len).u8(Op.I32Const).u8(1).u8(Op.LocalGet).u32(len).u8(Op.Select);
    w.u8(Op.LocalTee).u32(SIZE).u8(Op.Call).u32(malloc).u8(Op.LocalTee).u32(PTR);
    w.u8(Op.LocalGet).u32(SIZE).u8(Op.Call).u32(copyIn);
    if (client !== undefined) w.u8(Op.LocalGet).u32(client);
    w.u8(Op.LocalGet).u32(PTR).u8(Op.LocalGet).u32(len).u8(Op.Call).u32(target);
    w.u8(Op.LocalGet).u32(PTR).u8(Op.LocalGet).u32(SIZE).u8(Op.Call).u32(free);
  };
  const call = (name: string, ...args: number[]) => {
    const target = func(name);
    if (target === undefined) return;
    for (const arg of args) w.u8(Op.LocalGet).u32(arg);
    w.u8(Op.Call).u32(target);
  };
  const start = m.start;
  m.start = undefined;
  const bodies: (() => void)[] = [
    () => {
      if (start !== undefined) w.u8(Op.Call).u32(start);
      call("_initialize");
      payload(initialize, A, undefined);
    },
    () => call("connect", A),
    () => call("disconnect", A),
    () => {
      const target = func("message");
      if (target !== undefined) payload(target, B, A);
    },
    () => {
      const target = func("binary");
      if (target !== undefined) payload(target, B, A);
    },
    () => call("timer"),
  ];
  // fuel → the global; then a block per kind, innermost first, entered through br_table.
  w.u8(Op.LocalGet).u32(0).u8(Op.GlobalSet).u32(g);
  w.u8(Op.Block).u8(0x40); // done
  for (let i = 0; i < bodies.length; i++) w.u8(Op.Block).u8(0x40);
  w.u8(Op.LocalGet).u32(KIND).u8(Op.BrTable).u32(bodies.length);
  for (let i = 0; i <= bodies.length; i++) w.u32(i);
  bodies.forEach((body, kind) => {
    w.u8(Op.End);
    body();
    w.u8(Op.Br).u32(bodies.length - 1 - kind);
  });
  w.u8(Op.End); // done
  w.u8(Op.GlobalGet).u32(g).u8(Op.End);
  const index = metered.addFunction(
    { params: [I32, I32, I32, I32], results: [I32] },
    [[2, I32]],
    w.finish(),
  );
  m.exports.push({ name: EVENT_EXPORT, kind: ExternalKind.Function, index });
  metered.nameFunction(index, EVENT_EXPORT);
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
