/**
 * `node:wasi` in Deno: how many preview1 functions it provides, and a WASI command that writes to
 * stdout and calls `proc_exit(3)` under `returnOnExit`.
 *
 * ```sh
 * deno run -A scripts/facts/wasi_node.ts
 * ```
 *
 * @module
 */

import { WASI } from "node:wasi";
import { compileWat } from "./_wat.ts";

const wasi = new WASI({ version: "preview1", args: [], env: {}, returnOnExit: true });
const functions = Object.values(wasi.wasiImport).filter((value) => typeof value === "function");
const module = compileWat(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "guest: hello through node:wasi\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 31))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 3))))`);
const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport });
const code = wasi.start(instance);
console.log(
  `node:wasi: ${functions.length} preview1 functions; start() returned exit code ${code}`,
);
