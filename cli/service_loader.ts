/**
 * Load the service a command line names: a TypeScript/JavaScript module or a WASM module.
 *
 * @module
 */

import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ServiceDefinition } from "../server.ts";
import { UsageError } from "./usage_error.ts";
import { loadWasmService, type WasmServiceOptions } from "../wasm/host.ts";

const SCRIPT_EXTENSIONS = new Set([".ts", ".tsx", ".js", ".mjs", ".jsx", ".mts"]);

/**
 * Import a service module: its default export must be a service class or factory. `version`
 * makes a fresh import of the file (for hot reload).
 *
 * @example
 * ```ts ignore
 * const service = await loadScriptService("examples/counter.ts");
 * ```
 */
export async function loadScriptService(
  path: string,
  version?: number,
): Promise<ServiceDefinition> {
  const url = pathToFileURL(resolve(path));
  if (version !== undefined) url.searchParams.set("v", String(version));
  const module = await import(url.href);
  const service = module.default;
  if (typeof service !== "function") {
    throw new UsageError(
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
 * @throws {UsageError} when the path is neither, or the script has no usable default export.
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
