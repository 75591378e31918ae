/**
 * The client as browsers load it: the entry of the generated `client/client.js` (everything in
 * `./mod.ts` but the embedded script itself). Rebuild with `deno task client`.
 *
 * @module
 */

export {
  type ClientTimers,
  JamsocketClient,
  type JamsocketClientEventHandler,
  type JamsocketClientOptions,
  type JamsocketReadyState,
  type JamsocketRoomOptions,
  RECONNECT_CODES,
} from "./client.ts";
export { JamsocketClientError, type JamsocketClientErrorKind } from "./client_error.ts";
export {
  type JamsocketClientEventMap,
  JamsocketCloseEvent,
  type JamsocketCloseEventInit,
  JamsocketOpenEvent,
  JamsocketReconnectingEvent,
  type JamsocketReconnectingEventInit,
} from "./events.ts";
