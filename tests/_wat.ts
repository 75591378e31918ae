/**
 * Compile WebAssembly text in tests, and a template for small Jamsocket guests.
 *
 * @module
 */

import wabtInit from "wabt";

const wabt = await wabtInit();

/** Compile WAT source to a module's bytes, with wabt's `features` (e.g. `{ exceptions: true }`). */
export function wat(source: string, features?: Record<string, boolean>): Uint8Array {
  const module = wabt.parseWat("test.wat", source, features);
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

/**
 * A complete Jamsocket guest whose `message(client, ptr, len)` runs `body`. It imports
 * `env.send_message` as `$send` and `env.send_binary` as `$send_binary`, plus `imports`; its
 * `jam_malloc` is a bump allocator from 4096 that `jam_free` rewinds; addresses 0–15 are scratch.
 * `fields` adds module fields (more functions).
 */
export function guestWat(body: string, imports = "", fields = ""): string {
  return `(module
    (import "env" "send_message" (func $send (param i32 i32 i32)))
    (import "env" "send_binary" (func $send_binary (param i32 i32 i32)))
    ${imports}
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (data (i32.const 16) "\\01\\00\\00\\00\\00\\00\\00\\00")
    (global (export "JAMSOCKET_API_VERSION") i32 (i32.const 16))
    (global (export "JAMSOCKET_API_PROTOCOL") i32 (i32.const 20))
    (func (export "jam_malloc") (param $size i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (local.get $size)))
      (local.get $p))
    (func (export "jam_free") (param $ptr i32) (param $size i32) (global.set $heap (local.get $ptr)))
    (func (export "initialize") (param i32 i32))
    (func (export "message") (param $client i32) (param $ptr i32) (param $len i32) ${body})
    ${fields})`;
}
