/**
 * The instructions the module reader knows, with the shape of their immediates: WebAssembly 2.0
 * (MVP, multi-value, sign extension, saturating truncation, bulk memory, reference types, SIMD,
 * relaxed SIMD), tail calls, extended constant expressions and multi-memory indices. Exception
 * handling, threads (atomics), typed function references and GC are not known: a module that
 * uses them is refused by name.
 *
 * An opcode is a number: the byte for one-byte instructions, and `prefix * 0x1000 + n` for
 * prefixed ones (`0xfc008` is `0xfc 8`, `memory.init`; `n` is the LEB128 sub-opcode).
 *
 * @module
 */

/** How an instruction's immediates are encoded. */
export const Imm = {
  /** No immediate. */
  None: 0,
  /** A block type: `0x40`, a value type, or a type index (s33). */
  Block: 1,
  /** One u32: a label, local, global, table, memory, data or element index. */
  U32: 2,
  /** Two u32s (`call_indirect`, `memory.init`, `memory.copy`, `table.init`, `table.copy`). */
  U32x2: 3,
  /** `br_table`: a vector of labels and a default label. */
  BrTable: 4,
  /** A memory argument: alignment (with the multi-memory flag) and offset. */
  MemArg: 5,
  /** A memory argument and a lane index (SIMD load/store lane). */
  MemArgLane: 6,
  /** An s32 (`i32.const`). */
  I32: 7,
  /** An s64 (`i64.const`). */
  I64: 8,
  /** 4 bytes (`f32.const`). */
  F32: 9,
  /** 8 bytes (`f64.const`). */
  F64: 10,
  /** 16 bytes (`v128.const`, `i8x16.shuffle`). */
  Bytes16: 11,
  /** One lane index byte. */
  Lane: 12,
  /** A vector of value types (typed `select`). */
  ValTypes: 13,
  /** A heap type (`ref.null`): `func` or `extern`. */
  HeapType: 14,
} as const;

/** One of the {@linkcode Imm} values. */
export type Imm = typeof Imm[keyof typeof Imm];

/** Opcodes the rewriters look at. */
export const Op = {
  Unreachable: 0x00,
  Block: 0x02,
  Loop: 0x03,
  If: 0x04,
  Else: 0x05,
  End: 0x0b,
  Br: 0x0c,
  BrIf: 0x0d,
  BrTable: 0x0e,
  Return: 0x0f,
  Call: 0x10,
  CallIndirect: 0x11,
  ReturnCall: 0x12,
  ReturnCallIndirect: 0x13,
  Drop: 0x1a,
  Select: 0x1b,
  LocalGet: 0x20,
  LocalSet: 0x21,
  LocalTee: 0x22,
  GlobalGet: 0x23,
  GlobalSet: 0x24,
  MemorySize: 0x3f,
  MemoryGrow: 0x40,
  I32Const: 0x41,
  I64Const: 0x42,
  I32LtS: 0x48,
  I32Sub: 0x6b,
  I32ShrU: 0x76,
  RefFunc: 0xd2,
  MemoryInit: 0xfc008,
  DataDrop: 0xfc009,
  MemoryCopy: 0xfc00a,
  MemoryFill: 0xfc00b,
  TableInit: 0xfc00c,
  ElemDrop: 0xfc00d,
  TableCopy: 0xfc00e,
  TableGrow: 0xfc00f,
  TableFill: 0xfc011,
} as const;

/** The `0xfc` prefix's base in the opcode numbering. */
export const FC = 0xfc000;
/** The `0xfd` prefix's base in the opcode numbering. */
export const FD = 0xfd000;

const immediates = new Map<number, Imm>();
const names = new Map<number, string>();

function def(opcode: number, name: string, imm: Imm = Imm.None): void {
  immediates.set(opcode, imm);
  names.set(opcode, name);
}

function defAll(first: number, list: string, imm: Imm = Imm.None): void {
  list.split(" ").forEach((name, i) => {
    if (name !== "-") def(first + i, name, imm);
  });
}

// Control, parametric, variables, tables.
def(0x00, "unreachable");
def(0x01, "nop");
def(0x02, "block", Imm.Block);
def(0x03, "loop", Imm.Block);
def(0x04, "if", Imm.Block);
def(0x05, "else");
def(0x0b, "end");
def(0x0c, "br", Imm.U32);
def(0x0d, "br_if", Imm.U32);
def(0x0e, "br_table", Imm.BrTable);
def(0x0f, "return");
def(0x10, "call", Imm.U32);
def(0x11, "call_indirect", Imm.U32x2);
def(0x12, "return_call", Imm.U32);
def(0x13, "return_call_indirect", Imm.U32x2);
def(0x1a, "drop");
def(0x1b, "select");
def(0x1c, "select", Imm.ValTypes);
defAll(0x20, "local.get local.set local.tee global.get global.set table.get table.set", Imm.U32);

// Memory.
defAll(
  0x28,
  "i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s i32.load16_u " +
    "i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u " +
    "i32.store i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16 " +
    "i64.store32",
  Imm.MemArg,
);
def(0x3f, "memory.size", Imm.U32);
def(0x40, "memory.grow", Imm.U32);

// Numeric.
def(0x41, "i32.const", Imm.I32);
def(0x42, "i64.const", Imm.I64);
def(0x43, "f32.const", Imm.F32);
def(0x44, "f64.const", Imm.F64);
defAll(
  0x45,
  "i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u " +
    "i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s " +
    "i64.ge_u f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne f64.lt f64.gt f64.le f64.ge " +
    "i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u " +
    "i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr " +
    "i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u " +
    "i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr " +
    "f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt f32.add f32.sub f32.mul " +
    "f32.div f32.min f32.max f32.copysign " +
    "f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt f64.add f64.sub f64.mul " +
    "f64.div f64.min f64.max f64.copysign " +
    "i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u " +
    "i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s " +
    "i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u " +
    "f32.demote_f64 f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u " +
    "f64.promote_f32 i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 " +
    "f64.reinterpret_i64 i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s " +
    "i64.extend32_s",
);

// Reference types.
def(0xd0, "ref.null", Imm.HeapType);
def(0xd1, "ref.is_null");
def(0xd2, "ref.func", Imm.U32);

// 0xfc: saturating truncation, bulk memory, tables.
defAll(
  FC,
  "i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u " +
    "i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u",
);
def(FC + 8, "memory.init", Imm.U32x2);
def(FC + 9, "data.drop", Imm.U32);
def(FC + 10, "memory.copy", Imm.U32x2);
def(FC + 11, "memory.fill", Imm.U32);
def(FC + 12, "table.init", Imm.U32x2);
def(FC + 13, "elem.drop", Imm.U32);
def(FC + 14, "table.copy", Imm.U32x2);
defAll(FC + 15, "table.grow table.size table.fill", Imm.U32);

// 0xfd: SIMD and relaxed SIMD.
defAll(
  FD,
  "v128.load v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u v128.load32x2_s " +
    "v128.load32x2_u v128.load8_splat v128.load16_splat v128.load32_splat v128.load64_splat " +
    "v128.store",
  Imm.MemArg,
);
def(FD + 0x0c, "v128.const", Imm.Bytes16);
def(FD + 0x0d, "i8x16.shuffle", Imm.Bytes16);
defAll(FD + 0x0e, "i8x16.swizzle i8x16.splat i16x8.splat i32x4.splat i64x2.splat f32x4.splat");
def(FD + 0x14, "f64x2.splat");
defAll(
  FD + 0x15,
  "i8x16.extract_lane_s i8x16.extract_lane_u i8x16.replace_lane i16x8.extract_lane_s " +
    "i16x8.extract_lane_u i16x8.replace_lane i32x4.extract_lane i32x4.replace_lane " +
    "i64x2.extract_lane i64x2.replace_lane f32x4.extract_lane f32x4.replace_lane " +
    "f64x2.extract_lane f64x2.replace_lane",
  Imm.Lane,
);
for (const [first, shape] of [[0x23, "i8x16"], [0x2d, "i16x8"], [0x37, "i32x4"]] as const) {
  defAll(
    FD + first,
    ["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"]
      .map((op) => `${shape}.${op}`).join(" "),
  );
}
defAll(FD + 0x41, "f32x4.eq f32x4.ne f32x4.lt f32x4.gt f32x4.le f32x4.ge");
defAll(FD + 0x47, "f64x2.eq f64x2.ne f64x2.lt f64x2.gt f64x2.le f64x2.ge");
defAll(FD + 0x4d, "v128.not v128.and v128.andnot v128.or v128.xor v128.bitselect v128.any_true");
defAll(
  FD + 0x54,
  "v128.load8_lane v128.load16_lane v128.load32_lane v128.load64_lane v128.store8_lane " +
    "v128.store16_lane v128.store32_lane v128.store64_lane",
  Imm.MemArgLane,
);
defAll(FD + 0x5c, "v128.load32_zero v128.load64_zero", Imm.MemArg);
defAll(
  FD + 0x5e,
  "f32x4.demote_f64x2_zero f64x2.promote_low_f32x4 " +
    "i8x16.abs i8x16.neg i8x16.popcnt i8x16.all_true i8x16.bitmask i8x16.narrow_i16x8_s " +
    "i8x16.narrow_i16x8_u f32x4.ceil f32x4.floor f32x4.trunc f32x4.nearest i8x16.shl " +
    "i8x16.shr_s i8x16.shr_u i8x16.add i8x16.add_sat_s i8x16.add_sat_u i8x16.sub " +
    "i8x16.sub_sat_s i8x16.sub_sat_u f64x2.ceil f64x2.floor i8x16.min_s i8x16.min_u " +
    "i8x16.max_s i8x16.max_u f64x2.trunc i8x16.avgr_u i16x8.extadd_pairwise_i8x16_s " +
    "i16x8.extadd_pairwise_i8x16_u i32x4.extadd_pairwise_i16x8_s " +
    "i32x4.extadd_pairwise_i16x8_u " +
    // 0x80
    "i16x8.abs i16x8.neg i16x8.q15mulr_sat_s i16x8.all_true i16x8.bitmask " +
    "i16x8.narrow_i32x4_s i16x8.narrow_i32x4_u i16x8.extend_low_i8x16_s " +
    "i16x8.extend_high_i8x16_s i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u i16x8.shl " +
    "i16x8.shr_s i16x8.shr_u i16x8.add i16x8.add_sat_s i16x8.add_sat_u i16x8.sub " +
    "i16x8.sub_sat_s i16x8.sub_sat_u f64x2.nearest i16x8.mul i16x8.min_s i16x8.min_u " +
    "i16x8.max_s i16x8.max_u - i16x8.avgr_u i16x8.extmul_low_i8x16_s " +
    "i16x8.extmul_high_i8x16_s i16x8.extmul_low_i8x16_u i16x8.extmul_high_i8x16_u " +
    // 0xa0
    "i32x4.abs i32x4.neg - i32x4.all_true i32x4.bitmask - - i32x4.extend_low_i16x8_s " +
    "i32x4.extend_high_i16x8_s i32x4.extend_low_i16x8_u i32x4.extend_high_i16x8_u i32x4.shl " +
    "i32x4.shr_s i32x4.shr_u i32x4.add - - i32x4.sub - - - i32x4.mul i32x4.min_s i32x4.min_u " +
    "i32x4.max_s i32x4.max_u i32x4.dot_i16x8_s - i32x4.extmul_low_i16x8_s " +
    "i32x4.extmul_high_i16x8_s i32x4.extmul_low_i16x8_u i32x4.extmul_high_i16x8_u " +
    // 0xc0
    "i64x2.abs i64x2.neg - i64x2.all_true i64x2.bitmask - - i64x2.extend_low_i32x4_s " +
    "i64x2.extend_high_i32x4_s i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_u i64x2.shl " +
    "i64x2.shr_s i64x2.shr_u i64x2.add - - i64x2.sub - - - i64x2.mul i64x2.eq i64x2.ne " +
    "i64x2.lt_s i64x2.gt_s i64x2.le_s i64x2.ge_s i64x2.extmul_low_i32x4_s " +
    "i64x2.extmul_high_i32x4_s i64x2.extmul_low_i32x4_u i64x2.extmul_high_i32x4_u " +
    // 0xe0
    "f32x4.abs f32x4.neg - f32x4.sqrt f32x4.add f32x4.sub f32x4.mul f32x4.div f32x4.min " +
    "f32x4.max f32x4.pmin f32x4.pmax f64x2.abs f64x2.neg - f64x2.sqrt f64x2.add f64x2.sub " +
    "f64x2.mul f64x2.div f64x2.min f64x2.max f64x2.pmin f64x2.pmax i32x4.trunc_sat_f32x4_s " +
    "i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s f32x4.convert_i32x4_u " +
    "i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero f64x2.convert_low_i32x4_s " +
    "f64x2.convert_low_i32x4_u " +
    // 0x100: relaxed SIMD
    "i8x16.relaxed_swizzle i32x4.relaxed_trunc_f32x4_s i32x4.relaxed_trunc_f32x4_u " +
    "i32x4.relaxed_trunc_f64x2_s_zero i32x4.relaxed_trunc_f64x2_u_zero f32x4.relaxed_madd " +
    "f32x4.relaxed_nmadd f64x2.relaxed_madd f64x2.relaxed_nmadd i8x16.relaxed_laneselect " +
    "i16x8.relaxed_laneselect i32x4.relaxed_laneselect i64x2.relaxed_laneselect " +
    "f32x4.relaxed_min f32x4.relaxed_max f64x2.relaxed_min f64x2.relaxed_max " +
    "i16x8.relaxed_q15mulr_s i16x8.relaxed_dot_i8x16_i7x16_s " +
    "i32x4.relaxed_dot_i8x16_i7x16_add_s",
);

/** Names of instructions the reader does not support, for the error that refuses them. */
const unsupported = new Map<number, string>([
  [0x06, "try"],
  [0x07, "catch"],
  [0x08, "throw"],
  [0x09, "rethrow"],
  [0x0a, "throw_ref"],
  [0x14, "call_ref"],
  [0x15, "return_call_ref"],
  [0x18, "delegate"],
  [0x19, "catch_all"],
  [0x1f, "try_table"],
  [0xd3, "ref.as_non_null"],
  [0xd4, "br_on_null"],
  [0xd5, "ref.eq"],
  [0xd6, "br_on_non_null"],
]);

/** The immediates of `opcode`, or undefined when the reader does not know it. */
export function immediatesOf(opcode: number): Imm | undefined {
  return immediates.get(opcode);
}

/** The text-format name of `opcode`, when known (also for instructions the reader refuses). */
export function nameOf(opcode: number): string | undefined {
  return names.get(opcode) ?? unsupported.get(opcode) ?? prefixFamily(opcode);
}

/** Every opcode the reader knows, with its name and immediates (for tests and tools). */
export function knownOpcodes(): [opcode: number, name: string, imm: Imm][] {
  return [...immediates].map(([opcode, imm]) => [opcode, names.get(opcode)!, imm]);
}

/** Display an opcode as its bytes: `0x06`, `0xfc 0x12`. */
export function formatOpcode(opcode: number): string {
  const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
  return opcode < 0x1000 ? hex(opcode) : `${hex(opcode >> 12)} ${hex(opcode & 0xfff)}`;
}

/** The prefixes the reader refuses whole. */
function prefixFamily(opcode: number): string | undefined {
  if (opcode >> 12 === 0xfe) return "an atomic (threads) instruction";
  if (opcode >> 12 === 0xfb) return "a GC instruction";
  return undefined;
}
