/**
 * How fuel maps to time. Metered guests pay fuel per instruction (see `_meter.ts`); once per
 * process, small metered loops measure how much fuel this machine burns per millisecond of CPU,
 * and the CPU limit in seconds becomes a budget in fuel: `cpuLimit × 1000 × fuelPerMs`.
 *
 * The calibration runs the loops that burn fuel the slowest — an empty loop and a recursive
 * function — on their first call, in V8's baseline tier (Liftoff), as a runaway event in a room
 * does; it measures CPU time, not wall time, so other processes do not skew it. Code V8 has
 * optimized, or that does more per instruction, burns fuel faster and is stopped sooner: a
 * runaway event stops after 30–100% of the limit. Code that is slow per instruction for other
 * reasons (cache misses all over a large memory) can run longer. The budget in fuel, not in
 * seconds, decides where a guest stops: the same input and the same fuel budget stop at the
 * same instruction on any machine.
 *
 * @module
 */

import process from "node:process";
import { ByteWriter } from "./module/bytes.ts";
import { ExternalKind, ValType, type WasmModule, writeModule } from "./module/module.ts";
import { Op } from "./module/opcodes.ts";
import { FUEL_EXPORT, meter, METER_MODULE } from "./_meter.ts";

let calibrated: number | undefined;

/**
 * Fuel this process burns per millisecond of CPU, measured once (about 30 ms) and cached.
 *
 * @example
 * ```ts
 * import { fuelPerMillisecond } from "./fuel.ts";
 *
 * const budget = 2 * 1000 * fuelPerMillisecond(); // a 2 s CPU limit, in fuel
 * ```
 */
export function fuelPerMillisecond(): number {
  calibrated ??= calibrate();
  return calibrated;
}

/** The fuel budget of `seconds` of CPU. */
export function fuelForSeconds(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000 * fuelPerMillisecond()));
}

/** CPU milliseconds each calibration loop runs. */
const CALIBRATION_MS = 5;
const REFUEL = 100_000;

function calibrate(): number {
  const module = new WebAssembly.Module(calibrationModule() as Uint8Array<ArrayBuffer>);
  let stopAt = 0;
  let refuels = 0;
  const instance = new WebAssembly.Instance(module, {
    [METER_MODULE]: {
      out_of_fuel: (left: number) => {
        refuels++;
        if (cpuMs() >= stopAt) throw new Stop();
        return left + REFUEL;
      },
    },
  });
  const fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
  const rates = ["spin", "recurse"].map((name) => {
    refuels = 0;
    fuel.value = REFUEL;
    const started = cpuMs();
    stopAt = started + CALIBRATION_MS;
    try {
      (instance.exports[name] as () => void)();
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
    }
    return (refuels * REFUEL) / Math.max(cpuMs() - started, 0.001);
  });
  return Math.min(...rates);
}

class Stop extends Error {}

/** CPU time of this process, in milliseconds. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * The calibration loops, metered: `spin()` loops forever; `recurse()` computes `fib(20)` forever,
 * recursively.
 */
function calibrationModule(): Uint8Array {
  const I32 = ValType.I32;
  const spin = new ByteWriter()
    .u8(0) // no locals
    .u8(Op.Loop).u8(0x40).u8(Op.Br).u32(0).u8(Op.End)
    .u8(Op.End);
  const fib = new ByteWriter()
    .u8(0)
    .u8(Op.LocalGet).u32(0).u8(Op.I32Const).s32(2).u8(0x49) // i32.lt_u
    .u8(Op.If).u8(I32).u8(Op.LocalGet).u32(0)
    .u8(Op.Else)
    .u8(Op.LocalGet).u32(0).u8(Op.I32Const).s32(1).u8(Op.I32Sub).u8(Op.Call).u32(1)
    .u8(Op.LocalGet).u32(0).u8(Op.I32Const).s32(2).u8(Op.I32Sub).u8(Op.Call).u32(1)
    .u8(0x6a) // i32.add
    .u8(Op.End)
    .u8(Op.End);
  const recurse = new ByteWriter()
    .u8(0)
    .u8(Op.Loop).u8(0x40).u8(Op.I32Const).s32(20).u8(Op.Call).u32(1).u8(Op.Drop)
    .u8(Op.Br).u32(0).u8(Op.End)
    .u8(Op.End);
  const module: WasmModule = {
    types: [{ params: [], results: [] }, { params: [I32], results: [I32] }],
    imports: [],
    functions: [0, 1, 0],
    tables: [],
    memories: [],
    globals: [],
    exports: [
      { name: "spin", kind: ExternalKind.Function, index: 0 },
      { name: "recurse", kind: ExternalKind.Function, index: 2 },
    ],
    start: undefined,
    elements: [],
    dataCount: undefined,
    bodies: [spin, fib, recurse].map((w) => ({ bytes: w.finish(), offset: 0 })),
    data: undefined,
    customs: [],
    present: new Set([1, 3, 7, 10]),
  };
  return writeModule(meter(module, { growHook: false }).finish());
}
