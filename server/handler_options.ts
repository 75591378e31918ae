/**
 * The options of a Jamsocket handler, and their defaults.
 *
 * @module
 */

import type { ClusterOptions } from "../cluster/cluster_options.ts";
import type { Logger } from "../util/logger.ts";
import type { RoomIdStrategy, RoomIdStrategyName } from "../room/room_id.ts";
import type { ShutdownPolicy } from "../room/shutdown_policy.ts";
import type { IsolationOptions } from "../runtime/service_runtime.ts";
import type { AuthenticateHook } from "../service.ts";
import type { RecordOptions } from "../recording/recorder.ts";
import type { SnapshotStore } from "../snapshot/snapshot_store.ts";

/** The default {@linkcode HandlerOptions.maxRooms}. */
export const DEFAULT_MAX_ROOMS = 100_000;

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions extends IsolationOptions {
  /**
   * How rooms are created: `implicit`, `api`, `short`, `short<n>` or `uuid`.
   * @default {"implicit"}
   */
  rooms?: RoomIdStrategyName | RoomIdStrategy;
  /**
   * What happens to an empty room: `never`, `immediate`, `<n>sec`, or `{ afterMs }`.
   * @default {"300sec"}
   */
  shutdownPolicy?: ShutdownPolicy | string;
  /**
   * Seconds of silence after which a client is pinged. Deno pings at half its idle timeout, so
   * the idle timeout is set to `min(heartbeatTimeout, 2 × heartbeatInterval)`. `0` turns
   * heartbeats off.
   * @default {30}
   */
  heartbeatInterval?: number;
  /**
   * Seconds of silence after which a client that does not answer pings is closed (1001).
   * @default {120}
   */
  heartbeatTimeout?: number;
  /** Serve the files of this folder for every other `GET` (`index.html` for `/`). */
  staticDir?: string;
  /**
   * Also serve files and folders of `staticDir` whose name starts with a dot (`.env`, `.git/`).
   * @default {false}
   */
  staticDotFiles?: boolean;
  /**
   * Answer requests that match no Jamsocket route and no static file (instead of 404): your own
   * routes, or a page. `jamsocket dev` serves its dev page this way.
   */
  fallback?: (request: Request) => Response | Promise<Response>;
  /**
   * Seconds a graceful shutdown waits for in-flight events (a hook's pending Promise) before it
   * stops anyway.
   * @default {10}
   */
  shutdownTimeout?: number;
  /**
   * Largest message a client may send, in bytes, however it is fragmented (larger: close 1009).
   * Under `serve()` this is decided from frame headers before anything is buffered; mounted in
   * another server, Deno's WebSocket buffers a frame (up to 64 MiB) before the check.
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * Frames a client may send per second (more: close 1008). `0` is no limit.
   * @default {0}
   */
  maxMessagesPerSecond?: number;
  /**
   * Bytes that may queue for one client that reads too slowly before it is closed (1008).
   * @default {4194304}
   */
  maxBufferedBytes?: number;
  /**
   * Most rooms alive at once. At the limit, the room that has been empty longest is closed to make
   * space; with every room occupied, a request that would create one more gets 503.
   * @default {100000}
   */
  maxRooms?: number;
  /**
   * Most clients in one room; one more gets 503 before the upgrade. Unlimited by default.
   * @default {Infinity}
   */
  maxClients?: number;
  /**
   * The auth hook: decides, before the upgrade and before any room is created, whether a
   * WebSocket may join, and with which per-client data. Overrides a static `authenticate` on the
   * service class. See {@linkcode AuthenticateHook}.
   */
  authenticate?: AuthenticateHook;
  /**
   * Seconds the auth hook may take; past it the client gets 503.
   * @default {10}
   */
  authTimeout?: number;
  /**
   * Largest per-client data (from the auth hook or `ctx.setClientData`), as JSON text.
   * @default {16384}
   */
  maxClientDataBytes?: number;
  /**
   * Web origins (`https://app.example.com`) whose pages may open WebSockets; others get 403.
   * Browsers let any page open a WebSocket to any server, with that server's cookies
   * (cross-site WebSocket hijacking): list your pages' origins if you trust cookies. Every origin
   * is allowed by default; a request without `Origin` (not a browser) is always allowed.
   */
  allowedOrigins?: readonly string[];
  /**
   * Serve the whole surface under this path prefix (`/chat` → `/chat/ws/{room}`,
   * `/chat/status`), for a handler mounted inside another app. Requests outside it get 404.
   * @default {""}
   */
  basePath?: string;
  /**
   * Answer `GET /rooms` with the rooms (id, clients, creation time, idle seconds) as JSON, and
   * include them in `GET /status.json`. Off by default: room ids may be secrets.
   * @default {false}
   */
  listRooms?: boolean;
  /**
   * Record every room: its inputs (connects with client data, disconnects, messages, timer
   * firings) and its outputs, one append-only JSON Lines file per room in this folder (or with
   * per-room and file-count bounds: {@linkcode RecordOptions}). `jamsocket replay` and the test
   * kit's `replay` run them again.
   */
  record?: string | RecordOptions;
  /**
   * Seconds a room may go without events (a client's, or its timer's) before it hibernates: its
   * service is snapshotted and freed (a WASM room's instance and memory), its clients stay
   * connected, its timer stays armed, and the next event restores it first. Only rooms whose
   * service can be snapshotted (WASM modules loaded from bytes that do not change their tables;
   * TypeScript services with the `snapshot()`/`restore()` hooks); `0` turns it off.
   * @default {0}
   */
  hibernateAfter?: number;
  /**
   * Keep rooms across restarts: a folder (one snapshot file per room, written atomically) or a
   * {@linkcode SnapshotStore}. A graceful shutdown (SIGTERM, `shutdown()`) snapshots every room;
   * a room comes back with its state at its first connect after the restart, and its service
   * hears the clients it had leave first. A stored snapshot that is corrupt, truncated, or of
   * another build or service is refused with one log line and the room starts fresh. In a
   * cluster, snapshots are kept in the cluster's Redis without this option (a folder is refused:
   * rooms move between machines).
   */
  state?: string | SnapshotStore;
  /**
   * With `state` (or in a cluster): seconds between snapshots of the rooms that changed, so that
   * a crash (`kill -9`) loses at most that much. `0` saves only at a graceful shutdown.
   * @default {0}
   */
  snapshotEvery?: number;
  /**
   * Run as one node of a cluster on Redis (`{ redis: "redis://host:6379" }`): each room runs on
   * exactly one node, and a client may connect to any node. See {@linkcode ClusterOptions}.
   */
  cluster?: ClusterOptions;
  /**
   * Where the server logs.
   * @default {consoleLogger("info")}
   */
  logger?: Logger;
}
