/**
 * `createHandler()`: the Jamsocket HTTP surface as a `(Request) => Promise<Response>`.
 *
 * @module
 */

import { ClusterNode, type JamsocketClusterNode } from "../cluster/cluster_node.ts";
import { type ClientLimits, DEFAULT_CLIENT_LIMITS } from "../room/client_limits.ts";
import { CloseCode } from "../room/close_code.ts";
import { errorResponse, HttpError, textResponse } from "../http/http_error.ts";
import { Metrics } from "../http/metrics.ts";
import { OriginPolicy } from "../http/origins.ts";
import { StaticFiles } from "../http/static_files.ts";
import type { RoomInfo } from "../room/room.ts";
import { parseRoomIdStrategy, validateRoomId } from "../room/room_id.ts";
import { RoomRegistry } from "../room/room_registry.ts";
import { parseShutdownPolicy } from "../room/shutdown_policy.ts";
import {
  createServiceRuntime,
  type ServiceDefinition,
  type ServiceRuntime,
} from "../runtime/service_runtime.ts";
import { consoleLogger } from "../util/logger.ts";
import { type RecordedService, Recorder } from "../recording/recorder.ts";
import { WasmService } from "../wasm/host.ts";
import { createHash } from "node:crypto";
import { Hibernator } from "../snapshot/hibernation.ts";
import { RoomPersistence } from "../snapshot/room_persistence.ts";
import { DRAIN_REASON } from "../cluster/drain.ts";
import { FileSnapshotStore } from "../snapshot/snapshot_store.ts";
import type { Room } from "../room/room.ts";
import { DEFAULT_MAX_ROOMS, type HandlerOptions } from "./handler_options.ts";
import { RoomAdmission } from "./room_admission.ts";

/**
 * A `(Request) => Promise<Response>` that serves the Jamsocket HTTP surface, with controls for
 * the rooms behind it.
 */
export interface JamsocketHandler {
  /** Answer one request: `/status`, `/metrics`, `/ws/{room}`, `/new_room`, static files. */
  (request: Request): Promise<Response>;
  /** The server's counters, as `/metrics` renders them. */
  readonly metrics: Metrics;
  /** The rooms alive now, in creation order. */
  rooms(): RoomInfo[];
  /** This server's cluster node, with the `cluster` option. */
  readonly cluster?: JamsocketClusterNode;
  /**
   * Hot-reload: run new rooms on `service` from now on, and close every open room with 1012
   * (service restart) so its clients reconnect into a fresh room. Resolves with the number of
   * rooms closed.
   */
  replaceService(service: ServiceDefinition): Promise<number>;
  /**
   * Close every room with 1001 (going away) and resolve once in-flight events have run (or after
   * `shutdownTimeout`). Requests that arrive afterwards get 503.
   */
  shutdown(): Promise<void>;
}

/**
 * Build the request handler of a Jamsocket server, to mount in any Deno app (a bare
 * `Deno.serve`, Hono, Fresh, Oak). WebSocket upgrades need the request object that `Deno.serve`
 * handed in (not a copy); with `basePath`, the surface lives under that prefix. Mounted there,
 * upgrades use `Deno.upgradeWebSocket` and keep Deno's limits, not the front's: a frame is
 * buffered (up to 64 MiB) before the size check, a fragmented message has no bound, and there is
 * no connection cap, header timeout or server-wide memory budget. `serve()` has all of them.
 *
 * @example Mount under /chat next to your own routes
 * ```ts ignore
 * import { createHandler } from "./server.ts";
 *
 * const chat = createHandler(class {
 *   message(client: number, text: string, ctx: { sendMessage(to: number, text: string): void }) {
 *     ctx.sendMessage(client, text);
 *   }
 * }, { basePath: "/chat" });
 * Deno.serve((request) => new URL(request.url).pathname.startsWith("/chat/")
 *   ? chat(request) // ws://host/chat/ws/{room}
 *   : new Response("hi"));
 * ```
 */
export function createHandler(
  service: ServiceDefinition,
  options: HandlerOptions = {},
): JamsocketHandler {
  const logger = options.logger ?? consoleLogger();
  const metrics = new Metrics();
  const limits: ClientLimits = {
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_CLIENT_LIMITS.maxMessageBytes,
    maxMessagesPerSecond: options.maxMessagesPerSecond ??
      DEFAULT_CLIENT_LIMITS.maxMessagesPerSecond,
    maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_CLIENT_LIMITS.maxBufferedBytes,
    maxClientDataBytes: options.maxClientDataBytes ?? DEFAULT_CLIENT_LIMITS.maxClientDataBytes,
  };
  const maxClients = options.maxClients ?? Infinity;
  if (!(maxClients >= 1)) {
    throw new RangeError(`maxClients must be at least 1, got ${options.maxClients}`);
  }
  const basePath = normalizeBasePath(options.basePath ?? "");
  let runtime: ServiceRuntime = createServiceRuntime(service, options, logger, metrics);
  const strategy = typeof options.rooms === "object"
    ? options.rooms
    : parseRoomIdStrategy(options.rooms ?? "implicit");
  if (options.cluster && typeof options.state === "string") {
    throw new RangeError(
      "state cannot be a folder in a cluster: rooms move between machines, so their snapshots are kept in the cluster's Redis",
    );
  }
  const cluster: ClusterNode | undefined = options.cluster && new ClusterNode(options.cluster, {
    logger,
    strategy,
    state: {
      check: (id, bytes) => persistence.check(id, bytes),
      saved: (room) => persistence.saveNow(room),
      keep: (room) => persistence.keep(room),
      store: (id, bytes) => persistence.saveBytes(id, bytes),
      prepare: (id) => persistence.prepare(id),
    },
  });
  const recorder = options.record === undefined ? undefined : new Recorder(
    typeof options.record === "string" ? { dir: options.record } : options.record,
    logger,
  );
  const engineFactory = (rt: ServiceRuntime, definition: ServiceDefinition) =>
    recorder
      ? recorder.wrap(rt.engineFactory, describeService(definition, options))
      : rt.engineFactory;
  const hibernateAfter = seconds(options.hibernateAfter, "hibernateAfter");
  const snapshotEvery = seconds(options.snapshotEvery, "snapshotEvery");
  if (snapshotEvery > 0 && options.state === undefined && !cluster) {
    throw new RangeError("snapshotEvery needs state (a folder or a SnapshotStore to save to)");
  }
  const persistence: RoomPersistence = new RoomPersistence({
    store: typeof options.state === "string"
      ? new FileSnapshotStore(options.state)
      : options.state ?? cluster?.snapshotStore,
    fence: cluster && ((roomId) => cluster.fenceOf(roomId)),
    saveRestored: cluster !== undefined,
    logger,
    metrics,
    snapshots: () => runtime.snapshots,
    refusal: () => runtime.snapshotRefusal,
  });
  if ((hibernateAfter > 0 || persistence.store) && runtime.snapshotRefusal !== undefined) {
    logger.warn(
      `Rooms will not ${hibernateAfter > 0 ? "hibernate or " : ""}persist${
        cluster ? " or move between nodes" : ""
      }: ${runtime.snapshotRefusal}`,
    );
  }
  const registry: RoomRegistry = new RoomRegistry(engineFactory(runtime, service), {
    capacity: () => Math.min(options.maxRooms ?? DEFAULT_MAX_ROOMS, runtime.capacity),
    maxClients,
    strategy,
    ownership: cluster?.ownership,
    room: {
      logger,
      metrics,
      limits,
      shutdownPolicy: typeof options.shutdownPolicy === "object"
        ? options.shutdownPolicy
        : parseShutdownPolicy(options.shutdownPolicy ?? "300sec"),
    },
    saved: persistence,
    onRoomClosed: (room) => persistence.closed(room),
    onRoomCreated: (room) => persistence.created(room),
  });
  cluster?.start(registry);
  const hibernator = hibernateAfter > 0
    ? new Hibernator({
      afterMs: hibernateAfter * 1000,
      rooms: () => registry.rooms(),
      metrics,
      logger,
    })
    : undefined;
  hibernator?.start();
  if (snapshotEvery > 0) persistence.startPeriodic(snapshotEvery * 1000, () => registry.rooms());
  const admission = new RoomAdmission(registry, {
    logger,
    origins: new OriginPolicy(options.allowedOrigins),
    authenticate: options.authenticate ?? staticAuthenticate(service),
    authTimeoutMs: (options.authTimeout ?? 10) * 1000,
    maxClientDataBytes: limits.maxClientDataBytes,
    idleTimeout: idleTimeoutFor(options.heartbeatInterval ?? 30, options.heartbeatTimeout ?? 120),
    maxMessageBytes: limits.maxMessageBytes,
    placement: cluster,
  });
  const staticFiles = options.staticDir === undefined
    ? undefined
    : new StaticFiles(options.staticDir, { dotFiles: options.staticDotFiles });
  const startedAt = performance.now();
  let stopping = false;
  const keep = (room: Room, code: CloseCode, reason: string, pending: boolean) =>
    keepRoom(persistence, room, code, reason, pending);

  async function route(request: Request): Promise<Response> {
    if (stopping) throw new HttpError(503, "Server is shutting down");
    const path = localPath(pathOf(request), basePath);
    if (path === undefined) throw new HttpError(404, `Not found (outside "${basePath}")`);
    if (path.startsWith("/ws/")) return await roomRequest(request, roomIdFrom(path.slice(4)));
    if (path === "/status") return allow(request, "GET") ?? textResponse(200, "ok");
    if (path === "/status.json") return allow(request, "GET") ?? jsonResponse(status());
    if (path === "/rooms" && options.listRooms) {
      return allow(request, "GET") ?? jsonResponse({ rooms: rooms() });
    }
    if (path === "/new_room") {
      return allow(request, "POST") ??
        textResponse(200, cluster ? await cluster.createRoom() : registry.createGenerated().id);
    }
    if (cluster && (path === "/cluster" || (path === "/cluster/rooms" && options.listRooms))) {
      return allow(request, "GET") ?? jsonResponse(await cluster.view(path !== "/cluster"));
    }
    if (path === "/metrics") {
      const text = metrics.render(gauges()) + (cluster?.metricsText() ?? "");
      return allow(request, "GET") ?? new Response(text, {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (staticFiles) {
      try {
        return await staticFiles.serve(path, request.method);
      } catch (error) {
        if (!(options.fallback && error instanceof HttpError && error.status === 404)) throw error;
      }
    }
    if (options.fallback) return await options.fallback(request);
    throw new HttpError(404, notFoundReason(path, basePath));
  }

  async function roomRequest(request: Request, roomId: string): Promise<Response> {
    if (request.method !== "GET" && request.method !== "POST") return methodNotAllowed("GET, POST");
    if (!cluster && !registry.has(roomId)) await persistence.prepare(roomId);
    if (request.method === "POST") {
      return textResponse(
        200,
        cluster ? await cluster.createRoom(roomId) : registry.createExplicit(roomId).id,
      );
    }
    return await admission.admit(request, roomId);
  }

  function rooms(): RoomInfo[] {
    return [...registry.rooms()].map((room) => room.info());
  }

  function status() {
    let connections = 0;
    let idle = (performance.now() - startedAt) / 1000;
    for (const room of registry.rooms()) {
      connections += room.clientCount;
      idle = Math.min(idle, room.idleSeconds);
    }
    return {
      status: "ok",
      activeConnections: connections,
      secondsInactive: Math.round(idle * 10) / 10,
      rooms: options.listRooms ? rooms() : registry.size,
    };
  }

  function gauges() {
    let clients = 0;
    let queueDepth = 0;
    let hibernated = 0;
    for (const room of registry.rooms()) {
      clients += room.clientCount;
      queueDepth += room.pending;
      if (room.hibernated) hibernated++;
    }
    queueDepth += runtime.queueDepth;
    return { rooms: registry.size, clients, queueDepth, roomHosts: runtime.hosts, hibernated };
  }

  const handler = async (request: Request): Promise<Response> => {
    try {
      return await route(request);
    } catch (error) {
      return errorResponse(error, logger);
    }
  };
  return Object.assign(handler, {
    metrics,
    rooms,
    cluster,
    async replaceService(next: ServiceDefinition) {
      const previous = runtime;
      runtime = createServiceRuntime(next, options, logger, metrics);
      admission.authenticate = options.authenticate ?? staticAuthenticate(next);
      const carried = previous.snapshots?.service === runtime.snapshots?.service &&
        runtime.snapshots !== undefined;
      let kept = 0;
      const code = CloseCode.ServiceRestart;
      const closed = await registry.closeAll(
        code,
        "Service restart",
        engineFactory(runtime, next),
        carried
          ? async (room) => {
            if (await keep(room, code, "Service restart", true) !== undefined) kept++;
          }
          : undefined,
      );
      if (closed > 0) {
        logger.info(
          carried
            ? `Kept the state of ${kept} of ${closed} rooms across the reload`
            : `Rooms restart fresh: ${freshReason(previous, runtime)}`,
        );
      }
      await previous.close();
      return closed;
    },
    async shutdown() {
      stopping = true;
      hibernator?.stop();
      persistence.stop();
      const seconds = options.shutdownTimeout ?? 10;
      if (cluster) {
        const close = persistence.store
          ? (room: Room) => keep(room, CloseCode.ServiceRestart, DRAIN_REASON, false)
          : undefined;
        return await cluster.drain(seconds * 1000, close).then(() => runtime.close());
      }
      const code = CloseCode.GoingAway;
      const reason = "Server shutting down";
      let saved = 0;
      const closing = registry.closeAll(
        code,
        reason,
        undefined,
        persistence.store
          ? async (room) => {
            if (await keep(room, code, reason, false) !== undefined) saved++;
          }
          : undefined,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, seconds * 1000));
      await Promise.race([closing, timeout]);
      clearTimeout(timer);
      if (persistence.store && saved > 0) {
        const where = typeof options.state === "string" ? options.state : "the state store";
        logger.info(`Saved ${saved} room${saved === 1 ? "" : "s"} to ${where}`);
      }
      await runtime.close();
      recorder?.close();
    },
  });
}

/** Close `room` keeping its snapshot when it can be snapshotted; its size, or undefined. */
function keepRoom(
  persistence: RoomPersistence,
  room: Room,
  code: CloseCode,
  reason: string,
  pending: boolean,
): Promise<number | undefined> {
  if (!room.canSnapshot) return room.close(code, reason).then(() => undefined);
  return persistence.closeAndKeep(room, code, reason, pending).catch(() => undefined);
}

/** Why rooms cannot keep their state across a reload from `previous` to `next`. */
function freshReason(previous: ServiceRuntime, next: ServiceRuntime): string {
  if (previous.snapshots === undefined) return previous.snapshotRefusal ?? "no snapshots";
  if (next.snapshots === undefined) return next.snapshotRefusal ?? "no snapshots";
  return previous.snapshots.service.startsWith("wasm:")
    ? "a new WASM build cannot restore the old build's snapshots"
    : `the service changed from "${previous.snapshots.service}" to "${next.snapshots.service}"`;
}

/** Seconds from an option: a finite number >= 0 (0 when not given). */
function seconds(value: number | undefined, name: string): number {
  if (value === undefined) return 0;
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a number of seconds >= 0, got ${value}`);
  }
  return value;
}

/**
 * What a recording's header says of a service: its name, and for WASM the module's hash and the
 * fuel budget of an event (so that a replay stops a guest at the same instruction).
 */
function describeService(service: ServiceDefinition, options: HandlerOptions): RecordedService {
  if (!(service instanceof WasmService)) return { service: service.name || "service" };
  const hash = service.bytes && createHash("sha256").update(service.bytes).digest("hex");
  const metering = service.guestConfig(options).metering;
  return {
    service: service.name,
    ...(hash ? { module: `sha256:${hash}` } : {}),
    ...(metering ? { fuelPerEvent: metering.fuelPerEvent, cpuLimit: metering.cpuLimit } : {}),
  };
}

/** A service class's static `authenticate`, if it has one. */
function staticAuthenticate(service: ServiceDefinition) {
  const hook = (service as { authenticate?: unknown }).authenticate;
  return typeof hook === "function" ? hook.bind(service) : undefined;
}

/** Deno pings after half the idle timeout and closes at the idle timeout. */
function idleTimeoutFor(interval: number, timeout: number): number {
  if (interval <= 0 || timeout <= 0) return 0;
  return Math.min(timeout, 2 * interval);
}

/** `"/chat/"` → `"/chat"`; `""` and `"/"` → `""`. */
function normalizeBasePath(basePath: string): string {
  const trimmed = basePath.replace(/\/+$/, "");
  if (trimmed !== "" && !trimmed.startsWith("/")) {
    throw new TypeError(`basePath must start with "/", got "${basePath}"`);
  }
  return trimmed;
}

/** The path below `basePath`, or undefined for a path outside it. */
function localPath(path: string, basePath: string): string | undefined {
  if (basePath === "") return path;
  if (path === basePath) return "/";
  return path.startsWith(basePath + "/") ? path.slice(basePath.length) : undefined;
}

/** 404's reason, with a hint when the path looks like a route under a prefix. */
function notFoundReason(path: string, basePath: string): string {
  if (basePath === "" && /\/(ws\/|status$|new_room$)/.test(path)) {
    return "Not found; mounted under a path prefix? Pass it as basePath";
  }
  return "Not found";
}

/** The request's path; a request whose `Host` makes no URL (`a b`, `[`, `x:99999999`) is 400. */
function pathOf(request: Request): string {
  try {
    return new URL(request.url).pathname;
  } catch {
    const host = (request.headers.get("host") ?? "").slice(0, 100);
    throw new HttpError(400, `Invalid Host header: "${host}"`);
  }
}

function roomIdFrom(encoded: string): string {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, "Room ID is not valid percent-encoding");
  }
  validateRoomId(id);
  return id;
}

function allow(request: Request, method: "GET" | "POST"): Response | undefined {
  if (request.method === method || (method === "GET" && request.method === "HEAD")) return;
  return methodNotAllowed(method);
}

function methodNotAllowed(allowed: string): Response {
  const response = textResponse(405, `Method not allowed; use ${allowed}`);
  response.headers.set("allow", allowed);
  return response;
}

function jsonResponse(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}
