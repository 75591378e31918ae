/**
 * What the guest imports, and the AssemblyScript runtime hooks routed away from `env`.
 *
 * The host offers exactly three `env` functions (WASM_ABI.md); AssemblyScript imports a function
 * only where it is called, so a service that never sends bytes does not import `send_binary`.
 * `buildAssemblyScript()` passes `--use abort=…`, `--use trace=…` and `--use seed=…` so the
 * standard library's `env.abort`, `env.trace` and `env.seed` imports are replaced by the functions
 * below: a failed assertion or uncaught `throw` traps (the host crashes the room), `trace()` writes
 * a line to stderr (the host logs it with the room id), and `Math.random()` is seeded from WASI
 * `random_get`. The last two import a `wasi_snapshot_preview1` function only when used.
 *
 * Private to `wasm/assemblyscript/`.
 */

// @ts-ignore: decorator
@external("env", "send_message")
export declare function hostSendMessage(recipient: u32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("env", "send_binary")
export declare function hostSendBinary(recipient: u32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("env", "set_timer")
export declare function hostSetTimer(ms: u32): void;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function wasiFdWrite(fd: u32, iovs: usize, iovsLen: usize, written: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function wasiRandomGet(buf: usize, len: usize): u16;

/**
 * Replaces the standard library's `env.abort`: ends the current call with a trap, which the host
 * treats as a crash of the room (logged with the room id, clients closed with 1011).
 *
 * @example
 * ```ts ignore
 * // asc assembly/index.ts --use abort=~lib/jamsocket/_host/abort
 * ```
 */
export function abort(
  _message: string | null,
  _fileName: string | null,
  _lineNumber: u32,
  _columnNumber: u32,
): void {
  unreachable();
}

/**
 * Replaces the standard library's `env.trace`: writes `message` and up to five numbers as one line
 * to stderr (WASI `fd_write` on fd 2), which the host logs with the room id.
 *
 * @example
 * ```ts ignore
 * trace("value", 1, <f64>this.value); // logged as "value 3"
 * ```
 */
export function trace(
  message: string,
  n: i32 = 0,
  a0: f64 = 0,
  a1: f64 = 0,
  a2: f64 = 0,
  a3: f64 = 0,
  a4: f64 = 0,
): void {
  let line = message;
  if (n > 0) line += " " + a0.toString();
  if (n > 1) line += " " + a1.toString();
  if (n > 2) line += " " + a2.toString();
  if (n > 3) line += " " + a3.toString();
  if (n > 4) line += " " + a4.toString();
  line += "\n";
  const buf = String.UTF8.encode(line);
  const iov = memory.data(16);
  store<usize>(iov, changetype<usize>(buf));
  store<usize>(iov, <usize>buf.byteLength, sizeof<usize>());
  wasiFdWrite(2, iov, 1, iov + 2 * sizeof<usize>());
}

/**
 * Replaces the standard library's `env.seed`: seeds `Math.random()` from WASI `random_get`.
 *
 * @example
 * ```ts ignore
 * const roll = <i32>(Math.random() * 6) + 1; // first use calls seed()
 * ```
 */
export function seed(): f64 {
  const buf = memory.data(8);
  wasiRandomGet(buf, 8);
  return reinterpret<f64>(load<u64>(buf) & 0x000f_ffff_ffff_ffff | 0x3ff0_0000_0000_0000);
}
