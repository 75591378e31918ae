/**
 * WebAssembly text to a compiled module, for the fact scripts (wabt from npm, pinned in
 * `deno.json`).
 *
 * @module
 */

import wabtInit from "wabt";

const wabt = await wabtInit();

/** Compile WAT `source` (with the features V8 ships: JSPI needs none of wabt's flags). */
export function compileWat(source: string): WebAssembly.Module {
  const parsed = wabt.parseWat("fact.wat", source);
  try {
    return new WebAssembly.Module(parsed.toBinary({}).buffer as Uint8Array<ArrayBuffer>);
  } finally {
    parsed.destroy();
  }
}
