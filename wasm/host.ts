/**
 * Load a WebAssembly (WASI) module built for the original Rust `jamsocket-wasm` crate — or any
 * module that follows its ABI — as a service that `serve()` runs like a TypeScript one.
 *
 * @example
 * ```ts ignore
 * import { loadWasmService } from "./wasm/host.ts";
 * import { serve } from "./server.ts";
 *
 * serve(await loadWasmService("examples/wasm/counter.wasm"));
 * ```
 *
 * @module
 */

import { basename } from "node:path";
import { consoleLogger, describeError, type Logger } from "../util/logger.ts";
import type { JamsocketServiceFactory } from "../service.ts";
import { checkModuleShape, type GuestExports, HOST_FUNCTIONS, WASI_MODULE } from "./_abi.ts";
import { limitMemory } from "./_limit_memory.ts";
import { checkVersions, type GuestConfig, GuestInstance } from "./guest_instance.ts";
import { decodeGuestText } from "./guest_text.ts";

/** The default per-room memory ceiling: 1024 pages of 64 KiB (64 MiB). */
export const DEFAULT_MAX_MEMORY_PAGES = 1024;

/** Options of {@linkcode loadWasmService}. */
export interface WasmServiceOptions {
  /**
   * Most memory one room's instance may have, in 64 KiB pages; `memory.grow` past it fails inside
   * the guest. Applies to modules given as a path, URL or bytes (a precompiled
   * `WebAssembly.Module` keeps the maximum it was compiled with).
   * @default {1024}
   */
  maxMemoryPages?: number;
  /**
   * Where guest output (stdout as info, stderr as warnings, prefixed with the room id) and
   * guest faults go.
   * @default {consoleLogger()}
   */
  logger?: Logger;
  /** Command-line arguments the guest sees through WASI. @default {[]} */
  args?: readonly string[];
  /** Environment variables the guest sees through WASI. @default {{}} */
  env?: Readonly<Record<string, string>>;
  /** The name errors and logs use for the module. @default the file name, or "module" */
  name?: string;
}

/**
 * A module that cannot be a Jamsocket service, found when it is loaded (before any server
 * listens). The message is one line naming the module and what is wrong.
 *
 * @example
 * ```ts
 * import { WasmLoadError } from "./host.ts";
 *
 * const error = new WasmLoadError("counter.wasm", 'missing export function "jam_malloc"');
 * ```
 */
export class WasmLoadError extends Error {
  /** The module's name (its file name, or the `name` option). */
  readonly module: string;

  /** `Cannot load WASM service "<module>": <problem>`. */
  constructor(module: string, problem: string, options?: ErrorOptions) {
    super(`Cannot load WASM service "${module}": ${problem}`, options);
    this.name = "WasmLoadError";
    this.module = module;
  }
}

/**
 * A compiled, checked WASM service. `serve()` and `createHandler()` accept it wherever they accept
 * a service class; each room gets its own instance.
 */
export class WasmService {
  /** The module's name, for messages. */
  readonly name: string;
  /** The compiled module (with the memory ceiling applied). */
  readonly module: WebAssembly.Module;
  /** The module's bytes as compiled (ceiling applied), when it was not given precompiled. */
  readonly bytes: Uint8Array | undefined;
  /** The options the service was loaded with, defaults filled in. */
  readonly options: Readonly<Required<Omit<WasmServiceOptions, "name">>>;
  /** A factory of one guest instance per room. */
  readonly factory: JamsocketServiceFactory;

  /** Use {@linkcode loadWasmService}, which checks the module first. */
  constructor(
    name: string,
    module: WebAssembly.Module,
    bytes: Uint8Array | undefined,
    options: Readonly<Required<Omit<WasmServiceOptions, "name">>>,
  ) {
    this.name = name;
    this.module = module;
    this.bytes = bytes;
    this.options = options;
    const config: GuestConfig = { module, ...options };
    this.factory = (roomId, ctx) =>
      new GuestInstance(config, roomId, {
        sendText(recipient, utf8) {
          const text = decodeGuestText(utf8, roomId, recipient, options.logger);
          if (text !== undefined) ctx.sendMessage(recipient, text);
        },
        sendBinary: (recipient, bytes) => ctx.sendBinary(recipient, bytes.slice()),
        setTimer: (ms) => ctx.setTimer(ms),
      });
  }
}

/** What {@linkcode loadWasmService} accepts. */
export type WasmSource = string | URL | Uint8Array | ArrayBuffer | WebAssembly.Module;

/**
 * Compile and check a WASM service: its exports and imports against the Jamsocket ABI v1, and
 * its version globals (which must point at 1 and 0). Compiles once; every room instantiates the
 * compiled module.
 *
 * @throws {WasmLoadError} one line naming the module and what is missing or wrong.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadWasmService, WasmLoadError } from "./host.ts";
 *
 * const notWasm = new TextEncoder().encode("hello");
 * await assert.rejects(loadWasmService(notWasm, { name: "hello.wasm" }), WasmLoadError);
 * ```
 */
export async function loadWasmService(
  source: WasmSource,
  options: WasmServiceOptions = {},
): Promise<WasmService> {
  const name = options.name ?? nameOf(source);
  const resolved = {
    maxMemoryPages: options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES,
    logger: options.logger ?? consoleLogger(),
    args: options.args ?? [],
    env: options.env ?? {},
  };
  let module: WebAssembly.Module;
  let bytes: Uint8Array | undefined;
  if (source instanceof WebAssembly.Module) {
    module = source;
  } else {
    try {
      bytes = limitMemory(await readSource(source), resolved.maxMemoryPages);
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw new WasmLoadError(name, describeLoadError(error), { cause: error });
    }
  }
  const problem = checkModuleShape(module) ?? probeVersions(module);
  if (problem) throw new WasmLoadError(name, problem);
  return new WasmService(name, module, bytes, resolved);
}

async function readSource(source: string | URL | Uint8Array | ArrayBuffer): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const url = source instanceof URL ? source : undefined;
  if (url && url.protocol !== "file:") {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`fetching ${url} answered ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  return await Deno.readFile(url ?? source);
}

/** Instantiate once, without calling anything, and read the version globals. */
function probeVersions(module: WebAssembly.Module): string | undefined {
  const env = Object.fromEntries(HOST_FUNCTIONS.map((name) => [name, () => {}]));
  const wasi = Object.fromEntries(
    WebAssembly.Module.imports(module)
      .filter((i) => i.module === WASI_MODULE)
      .map((i) => [i.name, () => 52]),
  );
  try {
    const instance = new WebAssembly.Instance(module, { env, [WASI_MODULE]: wasi });
    return checkVersions(instance.exports as unknown as GuestExports);
  } catch (error) {
    return `cannot be instantiated: ${describeError(error)}`;
  }
}

function describeLoadError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "file not found";
  if (error instanceof WebAssembly.CompileError) return `not a valid module: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function nameOf(source: WasmSource): string {
  if (typeof source === "string") return basename(source);
  if (source instanceof URL) return basename(source.pathname);
  return "module";
}
