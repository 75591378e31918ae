/**
 * A small, sandboxed `wasi_snapshot_preview1` for Jamsocket guests: enough for what Rust's,
 * C's and AssemblyScript's standard libraries call, and nothing that reaches outside the room.
 *
 * Implemented:
 * - `fd_write` on fd 1 and 2 → the log, one line per newline, prefixed with the room id;
 *   `fd_fdstat_get` on fd 0–2 (character devices); every other fd answers `EBADF` (8).
 * - `clock_time_get` and `clock_res_get` for the realtime (0) and monotonic (1) clocks, and
 *   `random_get`, from the room's environment (the system's, or a recording's, or a test's).
 * - `args_get`, `args_sizes_get`, `environ_get`, `environ_sizes_get`: empty unless configured.
 * - `sched_yield` (does nothing), `proc_exit` (ends the call with a {@linkcode GuestExit}).
 * - `fd_prestat_get` answers `EBADF`: there are no preopened folders, so no file system.
 *
 * Every other preview1 function a module imports is provided and answers `ENOSYS` (52), so
 * instantiation never fails for a harmless import. A bad pointer from the guest answers
 * `EFAULT` (21) instead of throwing into the host.
 *
 * @module
 */

import { type RoomEnvironment, SYSTEM_ENVIRONMENT } from "../room/room_engine.ts";

/** WASI errno values this shim returns. */
export const Errno = {
  Success: 0,
  BadFileDescriptor: 8,
  Fault: 21,
  Invalid: 28,
  NotImplemented: 52,
} as const;

/**
 * The guest called `proc_exit`: the call it was in ends here, and the room is crashed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GuestExit } from "./wasi.ts";
 *
 * assert.equal(new GuestExit(3).message, "Guest exited with code 3");
 * ```
 */
export class GuestExit extends Error {
  /** The exit code the guest passed. */
  readonly code: number;

  /** Record an exit with `code`. */
  constructor(code: number) {
    super(`Guest exited with code ${code}`);
    this.name = "GuestExit";
    this.code = code;
  }
}

/** Configuration of a {@linkcode WasiShim}. */
export interface WasiOptions {
  /** Command-line arguments the guest sees. @default {[]} */
  args?: readonly string[];
  /** Environment variables the guest sees. @default {{}} */
  env?: Readonly<Record<string, string>>;
  /** Receives each complete line the guest writes to stdout or stderr. */
  log: (stream: "stdout" | "stderr", line: string) => void;
  /** Where clock readings and randomness come from. @default {SYSTEM_ENVIRONMENT} */
  environment?: RoomEnvironment;
}

type WasiFunction = (...args: never[]) => number | void;

const MAX_LINE = 8192;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const FILETYPE_CHARACTER_DEVICE = 2;
const encoder = new TextEncoder();

/**
 * One guest instance's WASI: build it, bind it to the instance's memory once instantiated, and
 * pass {@linkcode WasiShim.importsFor} as the `wasi_snapshot_preview1` import object.
 *
 * @example
 * ```ts
 * import { WasiShim } from "./wasi.ts";
 *
 * const lines: string[] = [];
 * const wasi = new WasiShim({ log: (_stream, line) => lines.push(line) });
 * const memory = new WebAssembly.Memory({ initial: 1 });
 * wasi.bind(memory);
 * ```
 */
export class WasiShim {
  readonly #args: Uint8Array[];
  readonly #env: Uint8Array[];
  readonly #log: WasiOptions["log"];
  readonly #environment: RoomEnvironment;
  readonly #pending: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  readonly #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #memory: WebAssembly.Memory | undefined;
  /** Added to the environment's monotonic clock (see {@linkcode continueClock}), in ns. */
  #monotonicOffsetNs = 0n;

  /** A shim with the given arguments, environment and log. */
  constructor(options: WasiOptions) {
    this.#args = (options.args ?? []).map((arg) => encoder.encode(`${arg}\0`));
    this.#env = Object.entries(options.env ?? {}).map(([k, v]) => encoder.encode(`${k}=${v}\0`));
    this.#log = options.log;
    this.#environment = options.environment ?? SYSTEM_ENVIRONMENT;
  }

  /** Use `memory` (the guest's exported memory) for every pointer from now on. */
  bind(memory: WebAssembly.Memory): void {
    this.#memory = memory;
  }

  /**
   * The import object for the preview1 functions `module` imports: the implemented ones, and an
   * `ENOSYS` answer for the rest.
   */
  importsFor(module: WebAssembly.Module): Record<string, WasiFunction> {
    const implemented = this.#functions();
    const imports: Record<string, WasiFunction> = {};
    for (const name of wasiImportNames(module)) {
      imports[name] = implemented[name] ?? (() => Errno.NotImplemented);
    }
    return imports;
  }

  /** The guest's monotonic clock now, in milliseconds. */
  monotonicMs(): number {
    return Number(this.#environment.clock(CLOCK_MONOTONIC) + this.#monotonicOffsetNs) / 1e6;
  }

  /**
   * Make the monotonic clock go on from `savedMs` (a restored guest's clock, read in another
   * instance or process), so that it never goes back.
   */
  continueClock(savedMs: number): void {
    const now = Number(this.#environment.clock(CLOCK_MONOTONIC)) / 1e6;
    this.#monotonicOffsetNs = BigInt(Math.max(0, Math.round((savedMs - now) * 1e6)));
  }

  /** Write out what is left of an unfinished line (when the room closes). */
  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#pending[stream] !== "") this.#log(stream, this.#pending[stream]);
      this.#pending[stream] = "";
    }
  }

  #view(): DataView {
    if (this.#memory === undefined) throw new RangeError("WASI called before memory was bound");
    return new DataView(this.#memory.buffer);
  }

  #functions(): Record<string, WasiFunction> {
    return {
      args_sizes_get: guarded((count: number, size: number) =>
        this.#sizes(this.#args, count, size)
      ),
      args_get: guarded((list: number, buffer: number) => this.#strings(this.#args, list, buffer)),
      environ_sizes_get: guarded((count: number, size: number) =>
        this.#sizes(this.#env, count, size)
      ),
      environ_get: guarded((list: number, buffer: number) =>
        this.#strings(this.#env, list, buffer)
      ),
      clock_res_get: guarded((id: number, out: number) => {
        if (id !== CLOCK_REALTIME && id !== CLOCK_MONOTONIC) return Errno.Invalid;
        this.#view().setBigUint64(out, 1000n, true);
        return Errno.Success;
      }),
      clock_time_get: guarded((id: number, _precision: bigint, out: number) => {
        if (id !== CLOCK_REALTIME && id !== CLOCK_MONOTONIC) return Errno.Invalid;
        const offset = id === CLOCK_MONOTONIC ? this.#monotonicOffsetNs : 0n;
        this.#view().setBigUint64(out, this.#environment.clock(id) + offset, true);
        return Errno.Success;
      }),
      random_get: guarded((buffer: number, length: number) => {
        this.#environment.random(this.#bytes(buffer, length));
        return Errno.Success;
      }),
      fd_write: guarded((fd: number, iovs: number, count: number, written: number) =>
        this.#write(fd, iovs, count, written)
      ),
      fd_fdstat_get: guarded((fd: number, out: number) => {
        if (fd > 2) return Errno.BadFileDescriptor;
        this.#bytes(out, 24).fill(0);
        this.#view().setUint8(out, FILETYPE_CHARACTER_DEVICE);
        return Errno.Success;
      }),
      fd_prestat_get: () => Errno.BadFileDescriptor,
      sched_yield: () => Errno.Success,
      proc_exit: (code: number) => {
        throw new GuestExit(code);
      },
    };
  }

  #sizes(items: Uint8Array[], countOut: number, sizeOut: number): number {
    const view = this.#view();
    view.setUint32(countOut, items.length, true);
    view.setUint32(sizeOut, items.reduce((sum, item) => sum + item.length, 0), true);
    return Errno.Success;
  }

  #strings(items: Uint8Array[], list: number, buffer: number): number {
    const view = this.#view();
    let at = buffer;
    items.forEach((item, i) => {
      view.setUint32(list + 4 * i, at, true);
      this.#bytes(at, item.length).set(item);
      at += item.length;
    });
    return Errno.Success;
  }

  #write(fd: number, iovs: number, count: number, writtenOut: number): number {
    if (fd !== 1 && fd !== 2) return Errno.BadFileDescriptor;
    const stream = fd === 1 ? "stdout" : "stderr";
    const view = this.#view();
    let total = 0;
    let text = this.#pending[stream];
    for (let i = 0; i < count; i++) {
      const ptr = view.getUint32(iovs + 8 * i, true);
      const length = view.getUint32(iovs + 8 * i + 4, true);
      text += this.#decoders[stream].decode(this.#bytes(ptr, length), { stream: true });
      total += length;
    }
    const lines = text.split("\n");
    this.#pending[stream] = lines.pop()!;
    for (const line of lines) this.#log(stream, line);
    if (this.#pending[stream].length > MAX_LINE) {
      this.#log(stream, this.#pending[stream]);
      this.#pending[stream] = "";
    }
    view.setUint32(writtenOut, total, true);
    return Errno.Success;
  }

  /** A view of guest memory; throws RangeError when the range falls outside it. */
  #bytes(ptr: number, length: number): Uint8Array {
    ptr >>>= 0;
    length >>>= 0;
    const buffer = this.#view().buffer;
    if (ptr + length > buffer.byteLength) throw new RangeError("Pointer out of bounds");
    return new Uint8Array(buffer, ptr, length);
  }
}

const importNames = new WeakMap<WebAssembly.Module, string[]>();

/** The preview1 functions a module imports, read once per module (not once per room). */
function wasiImportNames(module: WebAssembly.Module): string[] {
  let names = importNames.get(module);
  if (names === undefined) {
    names = WebAssembly.Module.imports(module)
      .filter((i) => i.module === "wasi_snapshot_preview1" && i.kind === "function")
      .map((i) => i.name);
    importNames.set(module, names);
  }
  return names;
}

/** Answer EFAULT when a function reads or writes outside guest memory. */
function guarded<A extends unknown[]>(fn: (...args: A) => number): (...args: A) => number {
  return (...args) => {
    try {
      return fn(...args);
    } catch (error) {
      if (error instanceof RangeError) return Errno.Fault;
      throw error;
    }
  };
}
