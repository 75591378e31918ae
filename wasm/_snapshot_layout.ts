/**
 * What a guest's state between two events is made of, and the rewrite that lets the host read
 * and write all of it (see `guest_snapshot.ts`), for any guest and without its cooperation:
 *
 * - **Linear memory**: exported already (the ABI requires it).
 * - **Mutable globals**: every one the module defines, exported or not (AssemblyScript's runtime
 *   state, Rust's and C's `__stack_pointer`), is exported once more as
 *   `jamsocket_global_<index>` (its index in the module's global index space), so the host reads
 *   and writes it as a `WebAssembly.Global`. Immutable globals are the same in every instance.
 * - **Tables**: a module whose code changes a table (`table.set`, `table.grow`, `table.fill`,
 *   `table.copy`, `table.init`) cannot be snapshotted (its function references have no portable
 *   form); the others have the tables their element segments made, in every instance.
 * - **The start function**: a fresh instance must not run any guest code before its state is
 *   written, so an unmetered module's start function is moved to the export `jamsocket_start`,
 *   which the host calls first at start-up (a metered module's start is already an event; see
 *   `_entry_points.ts`).
 *
 * Not captured, and the same after a restore as in any fresh instance: which passive data and
 * element segments were dropped (`data.drop`, `elem.drop`). A module that drops one is told
 * apart (`dropsSegments`): its used instances cannot be made fresh again for another room.
 *
 * @module
 */

import { ByteReader } from "./module/bytes.ts";
import { readBody, readLocals } from "./module/instructions.ts";
import { ExternalKind, importCount, ValType, type WasmModule } from "./module/module.ts";
import { Op } from "./module/opcodes.ts";

/** Prefix of the exports that give the host each mutable global. */
export const GLOBAL_EXPORT_PREFIX = "jamsocket_global_";
/** The export an unmetered module's start function moves to. */
export const START_EXPORT = "jamsocket_start";

/** A mutable global the host saves: its index and value type. */
export interface SavedGlobal {
  /** Index in the module's global index space (as in the original module). */
  readonly index: number;
  /** Its value type: `ValType.I32`, `I64`, `F32` or `F64`. */
  readonly type: number;
}

/** What a module's snapshots hold beyond memory, or why it has none. */
export interface SnapshotLayout {
  /** The mutable globals, in index order. */
  readonly globals: readonly SavedGlobal[];
  /** Why rooms of this module cannot be snapshotted (one line), or undefined when they can. */
  readonly refusal: string | undefined;
  /** Its code drops a passive segment (`data.drop`, `elem.drop`), which no reset can undo. */
  readonly dropsSegments: boolean;
}

const NUMBER_TYPES = new Set<number>([ValType.I32, ValType.I64, ValType.F32, ValType.F64]);
const TYPE_NAMES: Record<number, string> = { 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };
const SEGMENT_DROPS = new Set<number>([Op.DataDrop, Op.ElemDrop]);
const TABLE_CHANGES = new Map<number, string>([
  [0x26, "table.set"],
  [Op.TableGrow, "table.grow"],
  [Op.TableFill, "table.fill"],
  [Op.TableCopy, "table.copy"],
  [Op.TableInit, "table.init"],
]);

/**
 * Export every mutable global of `module` (decoded, before metering) for the host, in place,
 * and say whether its rooms can be snapshotted. A module it cannot read or cannot snapshot loads
 * and runs as before; only its snapshots are refused, with the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exposeState } from "./_snapshot_layout.ts";
 * import { readModule } from "./module/module.ts";
 *
 * const empty = readModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
 * assert.deepEqual(exposeState(empty), { globals: [], refusal: undefined, dropsSegments: false });
 * ```
 */
export function exposeState(module: WasmModule): SnapshotLayout {
  const m = module;
  const imported = importCount(m, ExternalKind.Global);
  const globals: SavedGlobal[] = [];
  let refusal: string | undefined = imported > 0 ? "it imports globals" : undefined;
  m.globals.forEach((global, i) => {
    const [type, mutable] = global.type;
    if (mutable !== 1) return;
    const index = imported + i;
    if (!NUMBER_TYPES.has(type)) {
      refusal ??= `global ${index} is a mutable ${TYPE_NAMES[type] ?? "global of an unknown type"}`;
      return;
    }
    globals.push({ index, type });
  });
  const names = new Set(m.exports.map((e) => e.name));
  for (const { index } of globals) {
    const name = GLOBAL_EXPORT_PREFIX + index;
    if (names.has(name)) {
      refusal ??= `it already exports "${name}"`;
      continue;
    }
    m.exports.push({ name, kind: ExternalKind.Global, index });
  }
  if (globals.length > 0) m.present.add(7);
  const code = scanCode(m);
  refusal ??= code.tableChange;
  return { globals, refusal, dropsSegments: code.dropsSegments };
}

/**
 * Move an unmetered module's start function to the export {@linkcode START_EXPORT}, in place, so
 * that instantiating it runs no guest code. Does nothing for a module without one.
 */
export function exportStart(module: WasmModule): void {
  if (module.start === undefined) return;
  module.exports.push({ name: START_EXPORT, kind: ExternalKind.Function, index: module.start });
  module.start = undefined;
  module.present.add(7);
}

/**
 * What the module's code does to state outside memory and globals: the first instruction that
 * changes a table (as a reason; also when a body cannot be read), and whether any drops a
 * passive segment.
 */
function scanCode(m: WasmModule): { tableChange: string | undefined; dropsSegments: boolean } {
  const functionImports = importCount(m, ExternalKind.Function);
  let dropsSegments = false;
  for (let i = 0; i < m.bodies.length; i++) {
    const body = m.bodies[i];
    const func = functionImports + i;
    let found: string | undefined;
    try {
      const r = new ByteReader(body.bytes, 0, body.bytes.length, Math.max(0, body.offset));
      readLocals(r);
      readBody(r, func, (ins) => {
        if (SEGMENT_DROPS.has(ins.opcode)) dropsSegments = true;
        const name = TABLE_CHANGES.get(ins.opcode);
        const table = ins.opcode === Op.TableInit ? ins.b : ins.a;
        if (name !== undefined) found ??= `function ${func} changes table ${table} (${name})`;
      });
    } catch (error) {
      return {
        tableChange: `cannot read function ${func}: ${(error as Error).message}`,
        dropsSegments: true,
      };
    }
    if (found !== undefined) return { tableChange: found, dropsSegments };
  }
  return { tableChange: undefined, dropsSegments };
}
