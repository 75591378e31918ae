/**
 * One room's instance of a WASM guest, driven as a {@linkcode SimpleJamsocketService}.
 *
 * @module
 */

import type { Logger } from "../util/logger.ts";
import { RoomCrashError } from "../room/room_engine.ts";
import type { ClientId, SimpleJamsocketService } from "../service.ts";
import { utf8Length } from "../util/utf8.ts";
import { API_PROTOCOL, API_VERSION, type GuestExports, WASI_MODULE } from "./_abi.ts";
import { GuestExit, WasiShim } from "./wasi.ts";

const encoder = new TextEncoder();

/**
 * Where a guest's calls to the host go. Byte views point into guest memory and are valid only
 * during the call: copy what must outlive it.
 */
export interface GuestOutput {
  /** `send_message`: UTF-8 text as the guest wrote it (not yet validated). */
  sendText(recipient: number, utf8: Uint8Array): void;
  /** `send_binary`. */
  sendBinary(recipient: number, bytes: Uint8Array): void;
  /** `set_timer`. */
  setTimer(ms: number): void;
}

/** What every instance of one service shares. */
export interface GuestConfig {
  readonly module: WebAssembly.Module;
  readonly logger: Logger;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * A guest instance: instantiated, `_initialize`d and `initialize`d with its room id on
 * construction; then each hook copies its payload into guest memory once (`jam_malloc`, write,
 * call, `jam_free`). A trap, a `proc_exit` or a pointer outside guest memory ends the call with a
 * {@linkcode RoomCrashError}. Its hooks have the shape of a {@linkcode SimpleJamsocketService}'s,
 * so a room runs it like a TypeScript service.
 *
 * @example
 * ```ts ignore
 * const guest = new GuestInstance(config, "lobby", ctx);
 * guest.message(1, "increment");
 * ```
 */
export class GuestInstance implements SimpleJamsocketService {
  readonly #wasi: WasiShim;
  readonly #exports: GuestExports;
  #bytes: Uint8Array;

  /** Instantiate and initialize the guest for `roomId`; throws {@linkcode RoomCrashError}. */
  constructor(config: GuestConfig, roomId: string, output: GuestOutput) {
    this.#wasi = new WasiShim({
      args: config.args,
      env: config.env,
      log: (stream, line) =>
        config.logger[stream === "stdout" ? "info" : "warn"](`Room "${roomId}" ${stream}: ${line}`),
    });
    try {
      const instance = new WebAssembly.Instance(config.module, {
        env: {
          send_message: (to: number, ptr: number, len: number) =>
            output.sendText(to >>> 0, this.#range("send_message", ptr, len)),
          send_binary: (to: number, ptr: number, len: number) =>
            output.sendBinary(to >>> 0, this.#range("send_binary", ptr, len)),
          set_timer: (ms: number) => output.setTimer(ms >>> 0),
        },
        [WASI_MODULE]: this.#wasi.importsFor(config.module),
      });
      this.#exports = instance.exports as unknown as GuestExports;
    } catch (error) {
      throw crash("instantiate", error);
    }
    const exports = this.#exports;
    this.#wasi.bind(exports.memory);
    this.#bytes = new Uint8Array(exports.memory.buffer);
    try {
      exports._initialize?.();
      const length = utf8Length(roomId);
      const [ptr, size] = this.#allocate(length);
      encoder.encodeInto(roomId, this.#bytes.subarray(ptr, ptr + length));
      exports.initialize(ptr, length);
      exports.jam_free(ptr, size);
    } catch (error) {
      throw crash("initialize", error);
    }
    const problem = checkVersions(exports);
    if (problem) throw new RoomCrashError("abi", problem);
  }

  connect(client: ClientId): void {
    try {
      this.#exports.connect?.(client);
    } catch (error) {
      throw crash("connect", error);
    }
  }

  disconnect(client: ClientId): void {
    try {
      this.#exports.disconnect?.(client);
    } catch (error) {
      throw crash("disconnect", error);
    }
  }

  message(client: ClientId, text: string): void {
    const exports = this.#exports;
    if (exports.message === undefined) return;
    try {
      const length = utf8Length(text);
      const [ptr, size] = this.#allocate(length);
      encoder.encodeInto(text, this.#bytes.subarray(ptr, ptr + length));
      exports.message(client, ptr, length);
      exports.jam_free(ptr, size);
    } catch (error) {
      throw crash("message", error);
    }
  }

  /** `message` with text already encoded as UTF-8 (as it arrives from another process). */
  messageUtf8(client: ClientId, utf8: Uint8Array): void {
    const exports = this.#exports;
    if (exports.message === undefined) return;
    try {
      this.#call(exports.message, client, utf8);
    } catch (error) {
      throw crash("message", error);
    }
  }

  binary(client: ClientId, data: Uint8Array): void {
    const exports = this.#exports;
    if (exports.binary === undefined) return;
    try {
      this.#call(exports.binary, client, data);
    } catch (error) {
      throw crash("binary", error);
    }
  }

  timer(): void {
    try {
      this.#exports.timer?.();
    } catch (error) {
      throw crash("timer", error);
    }
  }

  /** Write out the guest's unfinished log lines. */
  [Symbol.dispose](): void {
    this.#wasi.flush();
  }

  /** Copy `data` into guest memory, call `hook(client, ptr, len)`, free. */
  #call(
    hook: (client: number, ptr: number, len: number) => void,
    client: number,
    data: Uint8Array,
  ) {
    const [ptr, size] = this.#allocate(data.length);
    this.#bytes.set(data, ptr);
    hook(client, ptr, data.length);
    this.#exports.jam_free(ptr, size);
  }

  /**
   * `jam_malloc` room for `length` bytes (at least 1, so an empty payload still gets a valid
   * pointer); returns the pointer and the size to free. The pointer may have any alignment.
   */
  #allocate(length: number): [ptr: number, size: number] {
    const size = length || 1;
    const ptr = this.#exports.jam_malloc(size) >>> 0;
    this.#range("jam_malloc", ptr, size);
    return [ptr, size];
  }

  /** Guest memory `[ptr, ptr + len)`, refreshed if memory grew; crashes the room when outside. */
  #range(what: string, ptr: number, len: number): Uint8Array {
    ptr >>>= 0;
    len >>>= 0;
    const buffer = this.#exports.memory.buffer;
    if (this.#bytes.buffer !== buffer) this.#bytes = new Uint8Array(buffer);
    if (ptr + len > buffer.byteLength) {
      throw new RoomCrashError(
        "invalid_pointer",
        `Guest memory range passed to "${what}" is out of bounds: pointer ${ptr}, length ${len}, memory ${buffer.byteLength} bytes`,
      );
    }
    return this.#bytes.subarray(ptr, ptr + len);
  }
}

/**
 * Check the version globals: each holds the address of an i32 that must be 1 (API version) and
 * 0 (protocol). Returns the problem as one line, or undefined.
 */
export function checkVersions(exports: GuestExports): string | undefined {
  const view = new DataView(exports.memory.buffer);
  for (
    const [name, expected] of [
      ["JAMSOCKET_API_VERSION", API_VERSION],
      ["JAMSOCKET_API_PROTOCOL", API_PROTOCOL],
    ] as const
  ) {
    const address = Number(exports[name].value) >>> 0;
    if (address + 4 > view.byteLength) {
      return `export "${name}" points at address ${address}, outside memory`;
    }
    const found = view.getInt32(address, true);
    if (found !== expected) {
      return `export "${name}" is ${found}, expected ${expected}`;
    }
  }
  return undefined;
}

/** Turn whatever a guest call threw into the crash of its room. */
function crash(call: string, error: unknown): RoomCrashError {
  if (error instanceof RoomCrashError) return error;
  if (error instanceof GuestExit) {
    return new RoomCrashError("exit", `WASM guest exited with code ${error.code} in "${call}"`, {
      cause: error,
    });
  }
  const detail = error instanceof WebAssembly.RuntimeError
    ? error.message
    : error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
  return new RoomCrashError("trap", `WASM trap in "${call}": ${detail}`, { cause: error });
}
