/**
 * Decoding instructions one at a time, for function bodies and constant expressions.
 *
 * @module
 */

import { type ByteReader, WasmFormatError } from "./bytes.ts";
import { formatOpcode, Imm, immediatesOf, nameOf } from "./opcodes.ts";

/** Value types the reader accepts, by their signed LEB128 value. */
const VALUE_TYPES = new Set([
  -1, // i32
  -2, // i64
  -3, // f32
  -4, // f64
  -5, // v128
  -16, // funcref
  -17, // externref
]);
const EMPTY_BLOCK = -64;

/**
 * An instruction the reader does not know, or one it knows but refuses (exceptions, atomics,
 * typed function references, GC): names the instruction, the function and the byte offset.
 *
 * @example
 * ```ts
 * import { UnsupportedInstructionError } from "./instructions.ts";
 *
 * const error = new UnsupportedInstructionError(0x06, 3, 1200);
 * // error.message: "unsupported instruction 0x06 (try) in function 3 at byte offset 1200"
 * ```
 */
export class UnsupportedInstructionError extends WasmFormatError {
  /** The opcode (see `opcodes.ts` for how prefixed ones are numbered). */
  readonly opcode: number;
  /** The function's index in the module's function index space (-1 outside a function). */
  readonly func: number;
  /** The instruction's offset from the start of the module. */
  readonly offset: number;

  /** Describe the instruction at `offset` in function `func`. */
  constructor(opcode: number, func: number, offset: number, what = "instruction") {
    const name = nameOf(opcode);
    const where = func >= 0 ? ` in function ${func}` : " in a constant expression";
    super(
      `unsupported ${what} ${formatOpcode(opcode)}${
        name ? ` (${name})` : ""
      }${where} at byte offset ${offset}`,
    );
    this.name = "UnsupportedInstructionError";
    this.opcode = opcode;
    this.func = func;
    this.offset = offset;
  }
}

/**
 * The instruction {@linkcode readInstruction} read last. One object is reused for a whole body,
 * so nothing is allocated per instruction (except `br_table`'s labels).
 */
export interface Instruction {
  /** The opcode (see `opcodes.ts`). */
  opcode: number;
  /** Where the instruction starts, in the reader's bytes. */
  start: number;
  /**
   * The first immediate, for instructions that have an index or a depth: the label of `br` and
   * `br_if`, the function of `call` and `ref.func`, the type of `call_indirect`, the memory of
   * `memory.grow`, the table of table instructions, the data or element segment of `*.init`,
   * the block type of `block`/`loop`/`if` (negative for a value type or none).
   */
  a: number;
  /** The second index: the table of `call_indirect`, the memory or table of `*.init` and `*.copy`. */
  b: number;
  /** `br_table`'s labels, the default one last. */
  labels: number[];
}

/** A fresh {@linkcode Instruction} to pass to {@linkcode readInstruction}. */
export function newInstruction(): Instruction {
  return { opcode: 0, start: 0, a: 0, b: 0, labels: [] };
}

/**
 * Read one instruction at `r.at` into `out`, skipping its immediates, and check that the reader
 * knows it. `func` names the function in errors (-1 for a constant expression).
 *
 * @throws {UnsupportedInstructionError} for an instruction outside what the reader supports.
 * @throws {WasmFormatError} for bytes that are not an instruction.
 */
export function readInstruction(r: ByteReader, out: Instruction, func: number): void {
  const start = r.at;
  out.start = start;
  let opcode = r.u8();
  if (opcode === 0xfc || opcode === 0xfd || opcode === 0xfe || opcode === 0xfb) {
    const sub = r.u32();
    opcode = sub < 0x1000 ? opcode * 0x1000 + sub : -1;
  }
  out.opcode = opcode;
  const imm = immediatesOf(opcode);
  if (imm === undefined) throw new UnsupportedInstructionError(opcode, func, r.base + start);
  switch (imm) {
    case Imm.None:
      return;
    case Imm.Block: {
      const type = r.sleb(33);
      if (type < 0 && type !== EMPTY_BLOCK && !VALUE_TYPES.has(type)) {
        throw new UnsupportedInstructionError(opcode, func, r.base + start, "block type of");
      }
      out.a = type;
      return;
    }
    case Imm.U32:
      out.a = r.u32();
      return;
    case Imm.U32x2:
      out.a = r.u32();
      out.b = r.u32();
      return;
    case Imm.BrTable: {
      const count = r.u32();
      const labels: number[] = [];
      for (let i = 0; i <= count; i++) labels.push(r.u32());
      out.labels = labels;
      return;
    }
    case Imm.MemArg:
      readMemArg(r, out);
      return;
    case Imm.MemArgLane:
      readMemArg(r, out);
      r.skip(1);
      return;
    case Imm.I32:
      r.sleb(32);
      return;
    case Imm.I64:
      r.skipLeb();
      return;
    case Imm.F32:
      r.skip(4);
      return;
    case Imm.F64:
      r.skip(8);
      return;
    case Imm.Bytes16:
      r.skip(16);
      return;
    case Imm.Lane:
      r.skip(1);
      return;
    case Imm.ValTypes: {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        if (!VALUE_TYPES.has(r.sleb(7))) {
          throw new UnsupportedInstructionError(opcode, func, r.base + start, "value type in");
        }
      }
      return;
    }
    case Imm.HeapType: {
      const type = r.sleb(33);
      if (type !== -16 && type !== -17) {
        throw new UnsupportedInstructionError(opcode, func, r.base + start, "heap type in");
      }
      return;
    }
  }
}

/** Alignment (bit 6: a memory index follows, multi-memory), then the offset. */
function readMemArg(r: ByteReader, out: Instruction): void {
  const align = r.u32();
  out.a = align & 0x40 ? r.u32() : 0;
  r.u32();
}

/**
 * Call `visit` for each instruction of the constant expression at `r.at`, up to and including its
 * final `end`, and leave `r` after it.
 */
export function readConstExpr(r: ByteReader, visit?: (instruction: Instruction) => void): void {
  const instruction = newInstruction();
  while (true) {
    readInstruction(r, instruction, -1);
    visit?.(instruction);
    if (instruction.opcode === 0x0b) return;
  }
}

/** The locals of a function body: how many groups and how many locals they declare. */
export interface Locals {
  /** Number of `(count, type)` groups. */
  groups: number;
  /** Number of locals declared (not counting parameters). */
  count: number;
  /** Where the groups start (after their count) in the body's bytes. */
  start: number;
}

/** Read a body's local declarations at `r.at`. */
export function readLocals(r: ByteReader): Locals {
  const groups = r.u32();
  const start = r.at;
  let count = 0;
  for (let i = 0; i < groups; i++) {
    count += r.u32();
    const at = r.at;
    const type = r.u8();
    if (type !== 0x7b && (type < 0x7c || type > 0x7f) && type !== 0x70 && type !== 0x6f) {
      throw r.error(`unsupported local type 0x${type.toString(16)}`, at);
    }
  }
  if (count > 50000) throw r.error("too many locals");
  return { groups, count, start };
}

/** A structured block in a body, as {@linkcode readBody} tracks them. */
export const Block = { Function: 0, Block: 1, Loop: 2, If: 3 } as const;

/**
 * Read a function body's instructions at `r.at` (after its locals) up to its final `end`, calling
 * `visit` for each with the stack of open blocks (outermost, the function, first) as it is
 * before the instruction: for an `end`, the block it closes is still on top; for `br n`, the
 * function's label is depth `open.length - 1`.
 *
 * @throws {UnsupportedInstructionError} for an instruction the reader does not support.
 * @throws {WasmFormatError} for a body whose blocks do not nest, or that ends early.
 */
export function readBody(
  r: ByteReader,
  func: number,
  visit?: (instruction: Instruction, open: readonly number[]) => void,
): void {
  const open: number[] = [Block.Function];
  const instruction = newInstruction();
  while (open.length > 0) {
    if (r.done) throw r.error(`function ${func} ends without "end"`);
    readInstruction(r, instruction, func);
    visit?.(instruction, open);
    switch (instruction.opcode) {
      case 0x02:
        open.push(Block.Block);
        break;
      case 0x03:
        open.push(Block.Loop);
        break;
      case 0x04:
        open.push(Block.If);
        break;
      case 0x05:
        if (open[open.length - 1] !== Block.If) throw r.error(`"else" outside "if"`);
        break;
      case 0x0b:
        open.pop();
        break;
    }
  }
  if (!r.done) throw r.error(`function ${func} has bytes after its final "end"`);
}
