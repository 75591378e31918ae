/**
 * The module's exports, exactly as WASM_ABI.md names them. The service's entry file re-exports
 * this module, which is what makes it a Jamsocket module (`memory` is exported by the compiler):
 *
 * @example
 * ```ts ignore
 * export * from "jamsocket/exports";
 * ```
 */

export {
  binary,
  connect,
  disconnect,
  initialize,
  jam_free,
  jam_malloc,
  JAMSOCKET_API_PROTOCOL,
  JAMSOCKET_API_VERSION,
  message,
  timer,
} from "./jamsocket";
