/**
 * Load the service a command line names: a TypeScript/JavaScript module or a WASM module.
 *
 * @module
 */

import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ServiceDefinition } from "../server.ts";
import { formatDiagnostic, importDiagnostic } from "./diagnostics.ts";
import { UsageError } from "./usage_error.ts";
import { loadWasmService, type WasmServiceOptions } from "../wasm/host.ts";

const SCRIPT_EXTENSIONS = new Set([".ts", ".tsx", ".js", ".mjs", ".jsx", ".mts"]);

/**
 * Import a service module: its default export must be a service class or factory.
 *
 * @throws {Error} when the module does not load (a syntax error, a missing import, an exception
 * at its top level: one line, `file:line:column: what`), or its default export is not a service.
 * @example
 * ```ts ignore
 * const service = await loadScriptService("examples/counter.ts");
 * ```
 */
export async function loadScriptService(path: string): Promise<ServiceDefinition> {
  let module;
  try {
    module = await import(pathToFileURL(resolve(path)).href);
  } catch (error) {
    throw new Error(
      `Cannot load service "${path}": ${formatDiagnostic(importDiagnostic(error))}`,
      { cause: error },
    );
  }
  const service = module.default;
  if (typeof service !== "function") {
    throw new Error(
      `Cannot load service "${path}": its default export must be a service class or factory, found ${
        service === undefined ? "no default export" : typeof service
      }`,
    );
  }
  return service;
}

/**
 * Load the service `path` names: a `.wasm` module (checked against the ABI), or a TypeScript or
 * JavaScript module whose default export is a service class or factory.
 *
 * @throws {UsageError} when the path is neither a script nor a `.wasm` module.
 * @throws {WasmLoadError} when the module is not a valid Jamsocket guest.
 * @example
 * ```ts ignore
 * const service = await loadService("examples/wasm/counter.wasm", { logger });
 * ```
 */
export async function loadService(
  path: string,
  options: WasmServiceOptions = {},
): Promise<ServiceDefinition> {
  if (isScriptPath(path)) return await loadScriptService(path);
  if (extname(path).toLowerCase() === ".wasm") return await loadWasmService(path, options);
  throw new UsageError(`Cannot serve "${path}": expected a .wasm module or a .ts/.js module`);
}

/**
 * True when `path` names a TypeScript or JavaScript module.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isScriptPath } from "./service_loader.ts";
 *
 * assert.equal(isScriptPath("service.ts"), true);
 * assert.equal(isScriptPath("service.wasm"), false);
 * ```
 */
export function isScriptPath(path: string): boolean {
  return SCRIPT_EXTENSIONS.has(extname(path).toLowerCase());
}
