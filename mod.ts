/**
 * Jamsocket for Deno: stateful services behind WebSockets.
 *
 * A server hosts one **service**. Clients connect to a **room** over WebSocket
 * (`ws://host/ws/{room}`); each room is one instance of the service, and all state, client ids
 * and broadcasts are scoped to the room. A service is a TypeScript class, or a WebAssembly module
 * built for the original Rust `jamsocket-wasm` crate.
 *
 * @example The shared counter
 * ```ts ignore
 * import { type ClientId, type JamsocketContext, MessageRecipient, serve, type SimpleJamsocketService } from "jsr:@jamsocket/jamsocket";
 *
 * class SharedCounterServer implements SimpleJamsocketService {
 *   #value = 0;
 *   constructor(_roomId: string, _ctx: JamsocketContext) {}
 *   message(_client: ClientId, message: string, ctx: JamsocketContext) {
 *     if (message === "increment") this.#value++;
 *     else if (message === "decrement") this.#value--;
 *     ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.#value}`);
 *   }
 * }
 *
 * serve(SharedCounterServer); // http://localhost:8080/status → ok ; ws://localhost:8080/ws/1
 * ```
 *
 * @module
 */

export {
  type AuthenticateHook,
  type AuthResult,
  type ClientData,
  type ClientId,
  type HookResult,
  type JamsocketContext,
  type JamsocketServiceClass,
  type JamsocketServiceFactory,
  MessageRecipient,
  type RestoreHook,
  type SavedState,
  type SimpleJamsocketService,
} from "./service.ts";
export {
  createHandler,
  type FrontOptions,
  type HandlerOptions,
  type JamsocketHandler,
  type JamsocketServer,
  type RecordOptions,
  serve,
  type ServeOptions,
  type ServiceDefinition,
} from "./server.ts";
export type { ClusterOptions, PlacementPolicy } from "./cluster/cluster_options.ts";
export type { ClusterView, ClusterViewNode } from "./cluster/cluster_view.ts";
export type { JamsocketClusterNode } from "./cluster/cluster_node.ts";
export type {
  AcquireMode,
  AcquireResult,
  Coordinator,
  LiveNode,
  NodeInfo,
  OwnedRoom,
  RenewResult,
  RoomOwner,
} from "./cluster/coordinator.ts";
export { CloseCode } from "./room/close_code.ts";
export { HttpError } from "./http/http_error.ts";
export type { RoomInfo } from "./room/room.ts";
export { consoleLogger, type Logger, type LogLevel } from "./util/logger.ts";
export {
  type CrashKind,
  RoomCrashError,
  type RoomEnvironment,
  SYSTEM_ENVIRONMENT,
} from "./room/room_engine.ts";
export { Metrics, type MetricsGauges } from "./http/metrics.ts";
export {
  parseRoomIdStrategy,
  type RoomIdStrategy,
  type RoomIdStrategyName,
} from "./room/room_id.ts";
export { parseShutdownPolicy, type ShutdownPolicy } from "./room/shutdown_policy.ts";
export {
  loadWasmService,
  WasmLoadError,
  type WasmRoomFactory,
  type WasmRoomSnapshots,
  type WasmRunOptions,
  WasmService,
  type WasmServiceOptions,
  type WasmSource,
} from "./wasm/host.ts";
export { WasmMemoryBudget } from "./wasm/memory_budget.ts";
export {
  FileSnapshotStore,
  MemorySnapshotStore,
  type SnapshotStore,
  StaleSnapshotError,
} from "./snapshot/snapshot_store.ts";
export type { RoomSnapshot, ServiceSnapshots, ServiceState } from "./room/room_snapshot.ts";
