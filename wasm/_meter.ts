/**
 * Fuel metering, done to a module's bytes before it is compiled (as wasmtime's fuel does it in
 * its compiler): every function and every loop pays, when it is entered, for the instructions it
 * runs until the next such checkpoint; when fuel goes negative it calls the host's out-of-fuel
 * hook, which grants more fuel, suspends the guest (time slicing), or ends the call (CPU limit).
 *
 * The rewrite, for a module with `F` imported functions:
 *
 * - New imports after the module's own: `jamsocket.out_of_fuel: (i32) -> i32` (the fuel left, a
 *   negative number; answers the new fuel), `jamsocket.memory_grow: (i32) -> i32` when asked,
 *   and whatever `extraImports` lists. Functions from index `F` on shift by their number: calls,
 *   `ref.func`, element segments, exports, the start function and the `name` section follow.
 * - A new mutable i32 global, the fuel, exported as `jamsocket_fuel`. Each function keeps it in a
 *   local: loaded at entry, stored before calls and returns, reloaded after calls, so a loop's
 *   checkpoint costs a subtraction and a branch.
 * - At function entry and at each loop header: subtract the cost of the instructions that belong
 *   to that function or loop and not to a nested loop (1 per instruction, `block`/`loop`/`else`/
 *   `end` free, a call to an import {@linkcode IMPORT_CALL_COST}), plus
 *   {@linkcode FUNCTION_ENTRY_COST} or {@linkcode LOOP_HEADER_COST}. Between two visits of a
 *   checkpoint each of those instructions runs at most once, so the fuel used is an upper bound
 *   of the instructions run, and it is the same for the same input: deterministic.
 * - Bulk memory and table instructions (`memory.fill/copy/init`, `table.fill/copy/init/grow`),
 *   whose cost grows with their length, call a helper that also pays 1 per 16 bytes (1 per 4
 *   table entries). `memory.grow` on memory 0 calls `jamsocket.memory_grow` when asked (the
 *   server-wide memory budget).
 *
 * @module
 */

import { ByteReader, ByteWriter, WasmFormatError } from "./module/bytes.ts";
import { Block, readBody, readConstExpr, readLocals } from "./module/instructions.ts";
import {
  ExternalKind,
  type FuncType,
  funcTypeOf,
  importCount,
  tableTypeOf,
  ValType,
  type WasmModule,
} from "./module/module.ts";
import { remapNames } from "./module/names.ts";
import { Op } from "./module/opcodes.ts";

/** The import module of the host's metering functions. */
export const METER_MODULE = "jamsocket";
/** The export name of the fuel global. */
export const FUEL_EXPORT = "jamsocket_fuel";
/** Fuel a call to an imported (host) function costs, on top of its bytes (charged by the host). */
export const IMPORT_CALL_COST = 50;
/** Fuel a function entry costs on top of its instructions (the call and the checkpoint). */
export const FUNCTION_ENTRY_COST = 3;
/** Fuel a loop iteration costs on top of its instructions (the back edge and the checkpoint). */
export const LOOP_HEADER_COST = 3;
/** Bulk memory instructions pay 1 fuel per 2^4 bytes. */
export const BYTES_PER_FUEL_SHIFT = 4;
const TABLE_ENTRIES_PER_FUEL_SHIFT = 2;

/** What {@linkcode meter} does to a module. */
export interface MeterOptions {
  /** Rewrite `memory.grow` of memory 0 into a call of `jamsocket.memory_grow`. */
  readonly growHook: boolean;
  /** More host functions to import from `jamsocket`, for glue code (see `_entry_points.ts`). */
  readonly extraImports?: readonly {
    readonly name: string;
    readonly type: { readonly params: readonly number[]; readonly results: readonly number[] };
  }[];
}

/** A metered module, still decoded, and what glue code needs to extend it. */
export interface Metered {
  readonly module: WasmModule;
  /** The fuel global's index. */
  readonly fuelGlobal: number;
  /** Function index of each `jamsocket` import, by name. */
  readonly hostFunctions: ReadonlyMap<string, number>;
  /** The new index of the module's function `index`. */
  remap(index: number): number;
  /** Add a function (not metered) and return its index. */
  addFunction(
    type: FuncType,
    locals: readonly [count: number, type: number][],
    code: Uint8Array,
  ): number;
  /** Name a function added with {@linkcode addFunction} in the `name` section. */
  nameFunction(index: number, name: string): void;
  /** The index of `type` in the type section (added when missing). */
  typeIndex(type: Readonly<FuncType>): number;
  /** Write the module's bytes. */
  finish(): WasmModule;
}

const I32 = ValType.I32;
const OUT_OF_FUEL: FuncType = { params: [I32], results: [I32] };

/** The custom section of branch hints (it must come before the code section). */
const BRANCH_HINTS = "metadata.code.branch_hint";

/** Custom sections that point at code offsets, which the rewrite moves: dropped. */
const STALE_CUSTOM = /^(\.debug_|metadata\.code\.|sourceMappingURL$|external_debug_info$)/;

/**
 * Meter `module` (decoded with `readModule`), in place.
 *
 * @throws {UnsupportedInstructionError} (from `module/instructions.ts`) naming the first
 *   instruction it cannot meter.
 * @throws {WasmFormatError} for a body it cannot read.
 */
export function meter(module: WasmModule, options: MeterOptions): Metered {
  const m = module;
  const functionImports = importCount(m, ExternalKind.Function);
  const definedBefore = m.functions.length;
  const typeIndex = (
    type: { readonly params: readonly number[]; readonly results: readonly number[] },
  ) => {
    const found = m.types.findIndex((t) =>
      sameTypes(t.params, type.params) && sameTypes(t.results, type.results)
    );
    if (found >= 0) return found;
    m.types.push({ params: [...type.params], results: [...type.results] });
    m.present.add(1);
    return m.types.length - 1;
  };

  // Host imports, appended after the module's own (their indices: functionImports + j).
  const hostImports = [
    { name: "out_of_fuel", type: OUT_OF_FUEL },
    ...(options.growHook && definesMemoryZero(m)
      ? [{ name: "memory_grow", type: { params: [I32], results: [I32] } }]
      : []),
    ...(options.extraImports ?? []),
  ];
  const shift = hostImports.length;
  const hostFunctions = new Map<string, number>();
  hostImports.forEach(({ name, type }, j) => {
    m.imports.push({
      module: METER_MODULE,
      name,
      kind: ExternalKind.Function,
      type: typeIndex(type),
      desc: new Uint8Array(),
    });
    hostFunctions.set(name, functionImports + j);
  });
  m.present.add(2);
  const remap = (index: number) => index < functionImports ? index : index + shift;

  // The fuel global, after every other global.
  const fuelGlobal = importCount(m, ExternalKind.Global) + m.globals.length;
  m.globals.push({ type: Uint8Array.of(I32, 1), init: Uint8Array.of(Op.I32Const, 0, Op.End) });
  m.present.add(6);

  for (const e of m.exports) if (e.kind === ExternalKind.Function) e.index = remap(e.index);
  if (m.exports.some((e) => e.name === FUEL_EXPORT)) {
    throw new WasmFormatError(`the module already exports "${FUEL_EXPORT}"`);
  }
  m.exports.push({ name: FUEL_EXPORT, kind: ExternalKind.Global, index: fuelGlobal });
  m.present.add(7);
  if (m.start !== undefined) m.start = remap(m.start);
  for (const e of m.elements) {
    if (e.funcs) e.funcs = e.funcs.map(remap);
    if (e.exprs) e.exprs = e.exprs.map((expr) => remapConstExpr(expr, remap));
    if (e.offset) e.offset = remapConstExpr(e.offset, remap);
  }
  for (const g of m.globals) g.init = remapConstExpr(g.init, remap);
  for (const t of m.tables) if (t.init) t.init = remapConstExpr(t.init, remap);

  const added: [number, string][] = [];
  const addFunction = (
    type: FuncType,
    locals: readonly [number, number][],
    code: Uint8Array,
  ): number => {
    const w = new ByteWriter(code.length + 8);
    w.u32(locals.length);
    for (const [count, valType] of locals) w.u32(count).u8(valType);
    w.bytes(code);
    m.functions.push(typeIndex(type));
    m.bodies.push({ bytes: w.finish(), offset: -1 });
    return functionImports + shift + m.functions.length - 1;
  };

  const context: BodyContext = {
    m,
    functionImports,
    remap,
    fuelGlobal,
    outOfFuel: hostFunctions.get("out_of_fuel")!,
    memoryGrow: hostFunctions.get("memory_grow"),
    helpers: new Map(),
    addFunction,
    nameHelper: (index, name) => added.push([index, name]),
  };
  // Branch hints: every checkpoint's refuel is unlikely, so V8 keeps it (and the spills its call
  // needs) out of the loop's hot path.
  const hints = new ByteWriter(definedBefore * 8);
  let hinted = 0;
  for (let i = 0; i < definedBefore; i++) {
    const body = m.bodies[i];
    const unlikely: number[] = [];
    m.bodies[i] = {
      bytes: meterBody(context, functionImports + i, body.bytes, body.offset, unlikely),
      offset: -1,
    };
    hints.u32(remap(functionImports + i)).u32(unlikely.length);
    for (const at of unlikely) hints.u32(at).u32(1).u8(0);
    hinted++;
  }

  return {
    module: m,
    fuelGlobal,
    hostFunctions,
    remap,
    addFunction,
    nameFunction: (index, name) => added.push([index, name]),
    typeIndex,
    finish() {
      m.customs = m.customs.filter((c) => !STALE_CUSTOM.test(c.name));
      if (hinted > 0) {
        const section = new ByteWriter(hints.length + 8).u32(hinted).bytes(hints.finish());
        m.customs.push({ name: BRANCH_HINTS, bytes: section.finish(), after: 3 });
      }
      for (const custom of m.customs) {
        if (custom.name !== "name") continue;
        const names = remapNames(custom.bytes, remap, added);
        custom.bytes = names ?? new Uint8Array();
      }
      m.customs = m.customs.filter((c) => c.name !== "name" || c.bytes.length > 0);
      return m;
    },
  };
}

function sameTypes(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

function definesMemoryZero(m: WasmModule): boolean {
  return importCount(m, ExternalKind.Memory) === 0 && m.memories.length > 0;
}

/** A constant expression with every `ref.func` index remapped. */
function remapConstExpr(expr: Uint8Array, remap: (index: number) => number): Uint8Array {
  let refs = false;
  readConstExpr(new ByteReader(expr), (i) => refs ||= i.opcode === Op.RefFunc);
  if (!refs) return expr;
  const out = new ByteWriter(expr.length + 4);
  const r = new ByteReader(expr);
  readConstExpr(r, (i) => {
    if (i.opcode === Op.RefFunc) out.u8(Op.RefFunc).u32(remap(i.a));
    else out.bytes(expr.subarray(i.start, r.at));
  });
  return out.finish();
}

interface BodyContext {
  readonly m: WasmModule;
  readonly functionImports: number;
  readonly remap: (index: number) => number;
  readonly fuelGlobal: number;
  readonly outOfFuel: number;
  readonly memoryGrow: number | undefined;
  /** Bulk-instruction helpers made so far, by opcode and immediates. */
  readonly helpers: Map<string, number>;
  readonly addFunction: Metered["addFunction"];
  readonly nameHelper: (index: number, name: string) => void;
}

/**
 * Meter one function body (its locals and instructions); `func` is its index before the rewrite.
 * `unlikely` receives the body offset of each checkpoint's `if` (a branch hint).
 */
function meterBody(
  c: BodyContext,
  func: number,
  bytes: Uint8Array,
  offset: number,
  unlikely: number[],
): Uint8Array {
  const r = new ByteReader(bytes, 0, bytes.length, offset);
  const out = new ByteWriter(bytes.length * 2 + 64);
  // Locals: the declared groups, plus one i32 for the fuel.
  const locals = readLocals(r);
  out.u32(locals.groups + 1).bytes(bytes.subarray(locals.start, r.at)).u32(1).u8(I32);
  const fuel = funcTypeOf(c.m, c.remap(func)).params.length + locals.count;

  const fuelGlobal = c.fuelGlobal;
  const spill = () => out.u8(Op.LocalGet).u32(fuel).u8(Op.GlobalSet).u32(fuelGlobal);
  const reload = () => out.u8(Op.GlobalGet).u32(fuelGlobal).u8(Op.LocalSet).u32(fuel);
  /** Subtract this region's cost (patched when it closes) and refuel when negative. */
  const checkpoint = (entry: boolean) => {
    if (entry) out.u8(Op.GlobalGet).u32(fuelGlobal);
    else out.u8(Op.LocalGet).u32(fuel);
    out.u8(Op.I32Const);
    const at = out.paddedS32(0);
    out.u8(Op.I32Sub).u8(Op.LocalTee).u32(fuel).u8(Op.I32Const).u8(0).u8(Op.I32LtS);
    unlikely.push(out.length);
    out.u8(Op.If).u8(0x40).u8(Op.LocalGet).u32(fuel).u8(Op.Call).u32(c.outOfFuel);
    out.u8(Op.LocalSet).u32(fuel).u8(Op.End);
    return at;
  };

  // Each open region (the function, then each enclosing loop): where its cost goes, and the cost.
  const regionAt: number[] = [checkpoint(true)];
  const regionCost: number[] = [FUNCTION_ENTRY_COST];
  readBody(r, func, (ins, open) => {
    const op = ins.opcode;
    const copy = () => out.bytes(bytes.subarray(ins.start, r.at));
    const functionLabel = open.length - 1;
    let cost = 1;
    switch (op) {
      case Op.Block:
      case Op.Else:
        copy();
        cost = 0;
        break;
      case Op.Loop:
        copy();
        regionAt.push(checkpoint(false));
        regionCost.push(LOOP_HEADER_COST);
        cost = 0;
        break;
      case Op.End: {
        const closing = open[open.length - 1];
        if (closing === Block.Loop || closing === Block.Function) {
          out.patchS32(regionAt.pop()!, regionCost.pop()!);
        }
        if (closing === Block.Function) spill();
        copy();
        return;
      }
      case Op.Br:
      case Op.BrIf:
        if (ins.a === functionLabel) spill();
        copy();
        break;
      case Op.BrTable:
        if (ins.labels.includes(functionLabel)) spill();
        copy();
        break;
      case Op.Return:
        spill();
        copy();
        break;
      case Op.Call:
      case Op.ReturnCall:
        spill();
        out.u8(op).u32(c.remap(ins.a));
        if (op === Op.Call) reload();
        if (ins.a < c.functionImports) cost += IMPORT_CALL_COST;
        break;
      case Op.CallIndirect:
        spill();
        copy();
        reload();
        break;
      case Op.ReturnCallIndirect:
        spill();
        copy();
        break;
      case Op.RefFunc:
        out.u8(op).u32(c.remap(ins.a));
        break;
      case Op.MemoryGrow:
        if (c.memoryGrow !== undefined && ins.a === 0) {
          out.u8(Op.Call).u32(c.memoryGrow);
          cost += IMPORT_CALL_COST;
        } else {
          copy();
        }
        break;
      case Op.MemoryFill:
      case Op.MemoryCopy:
      case Op.MemoryInit:
      case Op.TableFill:
      case Op.TableCopy:
      case Op.TableInit:
      case Op.TableGrow:
        spill();
        out.u8(Op.Call).u32(bulkHelper(c, op, ins.a, ins.b));
        reload();
        break;
      default:
        copy();
    }
    regionCost[regionCost.length - 1] += cost;
  });
  return out.finish();
}

/** The encoding of a bulk instruction with its immediates. */
function bulkEncoding(op: number, a: number, b: number): Uint8Array {
  const w = new ByteWriter(8).u8(op >> 12).u32(op & 0xfff);
  if (op === Op.MemoryFill || op === Op.TableFill || op === Op.TableGrow) w.u32(a);
  else w.u32(a).u32(b);
  return w.finish();
}

/**
 * A function with the bulk instruction's operands as parameters that pays for its length (the
 * last operand) and runs it.
 */
function bulkHelper(c: BodyContext, op: number, a: number, b: number): number {
  const key = `${op}:${a}:${b}`;
  const existing = c.helpers.get(key);
  if (existing !== undefined) return existing;
  let params: number[];
  let results: number[] = [];
  let shift = BYTES_PER_FUEL_SHIFT;
  switch (op) {
    case Op.TableFill:
      params = [I32, tableTypeOf(c.m, a), I32];
      shift = TABLE_ENTRIES_PER_FUEL_SHIFT;
      break;
    case Op.TableGrow:
      params = [tableTypeOf(c.m, a), I32];
      results = [I32];
      shift = TABLE_ENTRIES_PER_FUEL_SHIFT;
      break;
    case Op.TableCopy:
    case Op.TableInit:
      params = [I32, I32, I32];
      shift = TABLE_ENTRIES_PER_FUEL_SHIFT;
      break;
    default:
      params = [I32, I32, I32];
  }
  const length = params.length - 1;
  const g = c.fuelGlobal;
  const w = new ByteWriter(64);
  w.u8(Op.GlobalGet).u32(g).u8(Op.LocalGet).u32(length).u8(Op.I32Const).u32(shift);
  w.u8(Op.I32ShrU).u8(Op.I32Sub).u8(Op.GlobalSet).u32(g);
  w.u8(Op.GlobalGet).u32(g).u8(Op.I32Const).u8(0).u8(Op.I32LtS);
  w.u8(Op.If).u8(0x40).u8(Op.GlobalGet).u32(g).u8(Op.Call).u32(c.outOfFuel);
  w.u8(Op.GlobalSet).u32(g).u8(Op.End);
  for (let i = 0; i < params.length; i++) w.u8(Op.LocalGet).u32(i);
  w.bytes(bulkEncoding(op, a, b)).u8(Op.End);
  const index = c.addFunction({ params, results }, [], w.finish());
  c.helpers.set(key, index);
  c.nameHelper(index, `jamsocket:metered_bulk_${(op & 0xfff)}_${a}_${b}`);
  return index;
}
