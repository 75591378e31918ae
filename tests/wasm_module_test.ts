import assert from "node:assert/strict";
import wabtInit from "wabt";
import { ByteReader } from "../wasm/module/bytes.ts";
import {
  newInstruction,
  readBody,
  readInstruction,
  readLocals,
  UnsupportedInstructionError,
} from "../wasm/module/instructions.ts";
import { readModule, writeModule } from "../wasm/module/module.ts";
import { Imm, knownOpcodes } from "../wasm/module/opcodes.ts";

const wabt = await wabtInit();

/** Every `.wasm` file in the repository that `deno task fixtures` builds. */
function repositoryModules(): string[] {
  const paths: string[] = [];
  for (const dir of ["examples/wasm", "tests/fixtures"]) {
    for (const entry of Deno.readDirSync(new URL(`../${dir}`, import.meta.url))) {
      if (entry.name.endsWith(".wasm")) paths.push(`${dir}/${entry.name}`);
    }
  }
  return paths.sort();
}

function read(path: string): Uint8Array {
  return Deno.readFileSync(new URL(`../${path}`, import.meta.url));
}

Deno.test("readModule and writeModule round-trip every module in the repository, byte for byte", () => {
  const paths = repositoryModules();
  assert.ok(paths.length >= 25, `only ${paths.length} modules found`);
  assert.ok(paths.includes("tests/fixtures/features.wasm"));
  for (const path of paths) {
    const bytes = read(path);
    const module = readModule(bytes);
    let instructions = 0;
    module.bodies.forEach((body, i) => {
      const r = new ByteReader(body.bytes, 0, body.bytes.length, body.offset);
      readLocals(r);
      readBody(r, i, () => instructions++);
    });
    assert.ok(instructions > 0, `${path}: no instructions read`);
    const written = writeModule(module);
    assert.ok(
      WebAssembly.validate(written as Uint8Array<ArrayBuffer>),
      `${path}: invalid after writing`,
    );
    assert.deepEqual(written, bytes, `${path}: bytes changed`);
  }
});

/** Text for one instruction with immediates of the right shape. */
function instructionText(name: string, imm: Imm): string {
  switch (imm) {
    case Imm.Block:
      return `${name} end`;
    case Imm.U32:
      return ["memory.size", "memory.grow", "memory.fill"].includes(name) ? name : `${name} 0`;
    case Imm.U32x2:
      if (name === "call_indirect" || name === "return_call_indirect") return `${name} (type 0)`;
      return ["memory.copy", "table.copy"].includes(name) ? name : `${name} 0`;
    case Imm.BrTable:
      return `${name} 0 0`;
    case Imm.MemArgLane:
    case Imm.Lane:
      return `${name} 1`;
    case Imm.I32:
    case Imm.I64:
    case Imm.F32:
    case Imm.F64:
      return `${name} 0`;
    case Imm.Bytes16:
      return name === "v128.const"
        ? `${name} i32x4 1 2 3 4`
        : `${name} ${Array.from({ length: 16 }, (_, i) => i).join(" ")}`;
    case Imm.ValTypes:
      return `${name} (result i32)`;
    case Imm.HeapType:
      return `${name} func`;
    default:
      return name;
  }
}

Deno.test("the reader's instruction table agrees with wabt on every opcode and immediate", () => {
  // `else` and `end` only make sense inside a block (the round trip above reads them).
  const known = knownOpcodes().filter(([opcode]) => opcode !== 0x05 && opcode !== 0x0b);
  assert.ok(known.length > 450, `${known.length} opcodes`);
  const funcs = known.map(([, name, imm]) => `(func ${instructionText(name, imm)})`);
  const text = `(module (type (func)) (memory 1) (table 1 funcref) (global i32 (i32.const 0))
    (data "") (elem func) ${funcs.join("\n")})`;
  const module = wabt.parseWat("opcodes.wat", text, {
    simd: true,
    relaxed_simd: true,
    tail_call: true,
  });
  const bytes = new Uint8Array(module.toBinary({}).buffer);
  module.destroy();
  const decoded = readModule(bytes);
  assert.equal(decoded.bodies.length, known.length);
  const instruction = newInstruction();
  decoded.bodies.forEach((body, i) => {
    const [opcode, name, imm] = known[i];
    const r = new ByteReader(body.bytes, 0, body.bytes.length, body.offset);
    readLocals(r);
    readInstruction(r, instruction, i);
    assert.equal(instruction.opcode, opcode, `${name}: wabt encodes another opcode`);
    // After the instruction and its immediates comes `end` (and for a block, its own `end`).
    if (imm === Imm.Block) readInstruction(r, instruction, i);
    readInstruction(r, instruction, i);
    assert.equal(instruction.opcode, 0x0b, `${name}: immediates read to the wrong length`);
    assert.ok(r.done, `${name}: bytes left after the body`);
  });
});

Deno.test("readBody refuses an instruction it does not support with one line naming it and where", () => {
  const cases: [string, Record<string, boolean>, RegExp][] = [
    [
      "(func (try (do) (catch_all)))",
      { exceptions: true },
      /^unsupported instruction 0x06 \(try\) in function 0 at byte offset \d+$/,
    ],
    [
      "(memory 1 1 shared) (func (drop (i32.atomic.load (i32.const 0))))",
      { threads: true },
      /^unsupported instruction 0xfe 0x10 \(an atomic \(threads\) instruction\) in function 0 at byte offset \d+$/,
    ],
  ];
  for (const [body, features, expected] of cases) {
    const module = wabt.parseWat("unsupported.wat", `(module ${body})`, features);
    const bytes = new Uint8Array(module.toBinary({}).buffer);
    module.destroy();
    const decoded = readModule(bytes);
    const r = new ByteReader(
      decoded.bodies[0].bytes,
      0,
      decoded.bodies[0].bytes.length,
      decoded.bodies[0].offset,
    );
    readLocals(r);
    assert.throws(() => readBody(r, 0), (error) => {
      assert.ok(error instanceof UnsupportedInstructionError);
      assert.match(error.message, expected);
      // The offset is the instruction's, in the module's bytes.
      const at = Number(/offset (\d+)$/.exec(error.message)![1]);
      assert.equal(bytes[at], error.opcode > 0xfff ? error.opcode >> 12 : error.opcode);
      return true;
    });
  }
});

Deno.test("readModule refuses what is not a module, or a truncated one, naming the offset", () => {
  assert.throws(() => readModule(new TextEncoder().encode("not wasm")), /bad magic number/);
  const bytes = read("tests/fixtures/echo.wasm");
  assert.throws(() => readModule(bytes.subarray(0, 40)), /at byte offset \d+$/);
});
