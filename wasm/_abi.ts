/**
 * The Jamsocket WASM ABI, version 1, protocol 0: export and import names, and the checks on a
 * compiled module's shape.
 *
 * @module
 */

/** The API version a guest's `JAMSOCKET_API_VERSION` must point at. */
export const API_VERSION = 1;
/** The protocol a guest's `JAMSOCKET_API_PROTOCOL` must point at. */
export const API_PROTOCOL = 0;

/**
 * Exports every guest must have, by kind. The event exports (`connect`, `disconnect`, `message`,
 * `binary`, `timer`) are optional: a guest without one ignores that event.
 */
export const REQUIRED_EXPORTS = {
  memory: "memory",
  jam_malloc: "function",
  jam_free: "function",
  initialize: "function",
  JAMSOCKET_API_VERSION: "global",
  JAMSOCKET_API_PROTOCOL: "global",
} as const;

/** Functions the host offers in the `env` module; a guest may import any of them. */
export const HOST_FUNCTIONS = ["send_message", "send_binary", "set_timer"] as const;

/** The WASI module whose functions the shim provides. */
export const WASI_MODULE = "wasi_snapshot_preview1";

/** The typed exports of a guest instance that passed {@linkcode checkModuleShape}. */
export interface GuestExports {
  memory: WebAssembly.Memory;
  jam_malloc(size: number): number;
  jam_free(ptr: number, size: number): void;
  initialize(ptr: number, len: number): void;
  connect?(client: number): void;
  disconnect?(client: number): void;
  message?(client: number, ptr: number, len: number): void;
  binary?(client: number, ptr: number, len: number): void;
  timer?(): void;
  _initialize?(): void;
  JAMSOCKET_API_VERSION: WebAssembly.Global;
  JAMSOCKET_API_PROTOCOL: WebAssembly.Global;
}

/** A module's imports and exports, as `WebAssembly.Module.imports/exports` describe them. */
export interface ModuleShape {
  imports: readonly WebAssembly.ModuleImportDescriptor[];
  exports: readonly WebAssembly.ModuleExportDescriptor[];
}

/** The shape of a compiled module. */
export function shapeOf(module: WebAssembly.Module): ModuleShape {
  return {
    imports: WebAssembly.Module.imports(module),
    exports: WebAssembly.Module.exports(module),
  };
}

/**
 * What is wrong with a module's exports and imports, as one line, or undefined when it is a
 * Jamsocket guest.
 */
export function checkModuleShape(shape: ModuleShape): string | undefined {
  const exports = new Map(shape.exports.map((e) => [e.name, e.kind]));
  const missing = Object.entries(REQUIRED_EXPORTS)
    .filter(([name, kind]) => exports.get(name) !== kind)
    .map(([name, kind]) => `${kind} "${name}"`);
  if (missing.length > 0) {
    const command = exports.has("_start")
      ? 'it is a WASI command (it exports "_start"), not a Jamsocket service: '
      : "";
    return `${command}missing export${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`;
  }
  for (const { module: from, name, kind } of shape.imports) {
    const provided = kind === "function" &&
      (from === WASI_MODULE ||
        (from === "env" && (HOST_FUNCTIONS as readonly string[]).includes(name)));
    if (!provided) {
      return `imports ${kind} "${from}.${name}", which the host does not provide (it provides ${
        HOST_FUNCTIONS.map((f) => `env.${f}`).join(", ")
      } and ${WASI_MODULE} functions)`;
    }
  }
  return undefined;
}
