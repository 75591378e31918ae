/**
 * A node of a cluster: its lease, its claims on rooms, its links to the other nodes, and the
 * answers it gives the upgrade path (where a room lives) and the HTTP surface (creating rooms,
 * the cluster view, metrics, drain). Forwarding lives in `forwarding.ts`, room creation in
 * `room_creation.ts`, the view in `cluster_view.ts`.
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import { CloseCode } from "../room/close_code.ts";
import type { RoomIdStrategy } from "../room/room_id.ts";
import type { RoomRegistry } from "../room/room_registry.ts";
import type { Logger } from "../util/logger.ts";
import { withDeadline } from "./_deadline.ts";
import type { NodeParts } from "./_node_parts.ts";
import { type ClusterOptions, DEFAULT_LEASE_MS } from "./cluster_options.ts";
import { clusterMetrics, type ClusterView, clusterView, roomList } from "./cluster_view.ts";
import type { Coordinator, LiveNode } from "./coordinator.ts";
import { drainNode } from "./drain.ts";
import type { ForwardingStats } from "./forwarded_client.ts";
import { Forwarding } from "./forwarding.ts";
import { LinkPool } from "./link_pool.ts";
import { LinkFrame } from "./link_protocol.ts";
import { NodeLease } from "./node_lease.ts";
import type { NodeLink } from "./node_link.ts";
import { Placement } from "./placement.ts";
import { RedisCoordinator } from "./redis_coordinator.ts";
import { RoomClaims } from "./room_claims.ts";
import { RoomCreation } from "./room_creation.ts";
import { RoomMoves, type RoomStateHooks } from "./room_moves.ts";
import { RedisSnapshotStore } from "./redis_snapshot_store.ts";
import type { Room } from "../room/room.ts";
import type { SnapshotStore } from "../snapshot/snapshot_store.ts";
import type { RoomPlacement, RoomRoute } from "./room_placement.ts";

/** A server's cluster node, as `handler.cluster` shows it. */
export interface JamsocketClusterNode {
  /** The node's id now (empty until it registered; a new one each time it fenced itself). */
  readonly id: string;
  /** Resolves once the node holds a lease. */
  readonly registered: Promise<void>;
  /** The address other nodes reach this node's links at. */
  readonly linkAddress: string;
  /** The live nodes (with `withRooms`, each one's rooms): what `GET /cluster` answers. */
  view(withRooms: boolean): Promise<ClusterView>;
}

/** What a node needs from the server it belongs to. */
export interface ClusterNodeConfig {
  readonly logger: Logger;
  readonly strategy: RoomIdStrategy;
  /**
   * The server's persistence of rooms: with it, a drain moves rooms to other nodes live, and
   * rooms come back from their stored snapshots when a node claims them.
   */
  readonly state?: RoomStateHooks & {
    /** Load room `roomId`'s stored snapshot, before it is created here. */
    prepare(roomId: string): Promise<void>;
  };
}

/** What clients of a node that fenced itself are told (close 1012). */
const LAPSE_REASON = "Node lost its cluster lease; reconnect";
/** How long a request waits for this node to hold a lease. */
const READY_MS = 1000;
/** How long one coordinator call may take before the request gets 503. */
const ASK_MS = 2000;

/**
 * One node of a cluster. The handler gives the registry its {@linkcode ClusterNode.ownership}
 * hook and the admission the node itself as {@linkcode RoomPlacement}, then calls
 * {@linkcode ClusterNode.start}.
 *
 * @example
 * ```ts ignore
 * const cluster = new ClusterNode({ redis: "redis://127.0.0.1:6379" }, { logger, strategy });
 * const registry = new RoomRegistry(engines, { ...config, ownership: cluster.ownership });
 * cluster.start(registry);
 * ```
 */
export class ClusterNode implements RoomPlacement, JamsocketClusterNode {
  /** The registry's hook: rooms are created here only with a claim. */
  readonly ownership: RoomClaims;
  readonly #options: ClusterOptions;
  readonly #parts: NodeParts;
  readonly #lease: NodeLease;
  readonly #pool: LinkPool;
  readonly #placement: Placement;
  readonly #forwarding: Forwarding;
  readonly #creation: RoomCreation;
  readonly #moves: RoomMoves | undefined;
  readonly #snapshotStore: SnapshotStore | undefined;
  readonly #stats: ForwardingStats = { clients: 0 };
  #registry: RoomRegistry | undefined;
  #linkAddress = "";
  #draining = false;
  #fenced = 0;
  #drained: Promise<void> | undefined;

  /** A node under `options`; nothing runs until {@linkcode ClusterNode.start}. */
  constructor(options: ClusterOptions, config: ClusterNodeConfig) {
    if (options.coordinator === undefined && options.redis === undefined) {
      throw new TypeError("cluster needs a Redis URL (cluster.redis)");
    }
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!(leaseMs >= 200)) {
      throw new RangeError(`cluster.leaseMs must be at least 200, got ${leaseMs}`);
    }
    this.#options = options;
    const { logger, strategy } = config;
    const redis = options.coordinator === undefined
      ? new RedisCoordinator(options.redis!, { prefix: options.keyPrefix, logger })
      : undefined;
    this.#snapshotStore = redis && new RedisSnapshotStore(redis);
    const coordinator: Coordinator = options.coordinator ?? redis!;
    this.#placement = new Placement(options.placement ?? "least-loaded");
    this.#lease = new NodeLease({
      coordinator,
      leaseMs,
      logger,
      info: () => this.#info(),
      onNodes: (nodes) => this.#onNodes(nodes),
      onLapse: () => this.#lapse(),
    });
    this.ownership = new RoomClaims({
      coordinator,
      lease: this.#lease,
      logger,
      refreshEveryMs: (redis?.roomTtlMs ?? 600_000) / 3,
      onLost: (room) => this.#closeRoom(room, "Room moved to another node; reconnect"),
    });
    const lease = this.#lease;
    this.#pool = new LinkPool({
      get nodeId() {
        return lease.id;
      },
      isLiveNode: (id) => this.#isLiveNode(id),
      join: (link, channel, room, mayCreate, data) =>
        this.#forwarding.admit(link, channel, room, mayCreate, data),
      rejoin: (link, channel, room, token) => {
        if (this.#moves) return this.#moves.rejoin(link, channel, room, token);
        link.code(LinkFrame.Refused, channel, 503, "Rooms do not move here; reconnect");
      },
      request: (body) => this.#answer(body),
    }, logger);
    const node = {
      registry: () => this.#registry!,
      draining: () => this.#draining,
    };
    this.#parts = {
      get registry() {
        return node.registry();
      },
      get draining() {
        return node.draining();
      },
      strategy,
      logger,
      coordinator,
      lease: this.#lease,
      claims: this.ownership,
      pool: this.#pool,
      placement: this.#placement,
      stats: this.#stats,
      ask: (call) => this.#ask(call),
      link: (id) => this.#link(id),
      placeNew: () => this.#placement.pick(lease.id, this.#registry?.size ?? 0)?.id,
      prepare: (roomId) => config.state?.prepare(roomId) ?? Promise.resolve(),
    };
    this.#forwarding = new Forwarding(this.#parts);
    this.#creation = new RoomCreation(this.#parts);
    this.#moves = config.state && new RoomMoves(this.#parts, config.state);
  }

  /** This node's id now (empty until it registered; a new one after each lapse). */
  get id(): string {
    return this.#lease.id;
  }

  /** Resolves once this node holds a lease. */
  get registered(): Promise<void> {
    return this.#lease.registered;
  }

  /** The address other nodes reach this node's links at. */
  get linkAddress(): string {
    return this.#linkAddress;
  }

  /** Where this cluster keeps room snapshots (its Redis), if it can. */
  get snapshotStore(): SnapshotStore | undefined {
    return this.#snapshotStore;
  }

  /** The fencing token of this node's claim on `roomId` (what its snapshots carry). */
  fenceOf(roomId: string): number | undefined {
    return this.ownership.fenceOf(roomId);
  }

  /** Listen for the other nodes, register, and start renewing. */
  start(registry: RoomRegistry): void {
    this.#registry = registry;
    this.#linkAddress = this.#pool.listen(this.#options.nodeAddress ?? "127.0.0.1:0");
    this.#lease.start();
  }

  /** Where a WebSocket to `roomId` goes (see {@linkcode RoomPlacement}). */
  async locate(roomId: string): Promise<RoomRoute | undefined> {
    const parts = this.#parts;
    if (parts.registry.has(roomId) && this.ownership.has(roomId)) return undefined;
    await this.#ready();
    const owner = await this.#ask(parts.coordinator.lookup(roomId));
    if (owner !== undefined) return this.#forwarding.route(roomId, owner.node);
    if (!parts.strategy.implicitCreation) {
      throw new HttpError(404, `Room "${roomId}" does not exist`);
    }
    return this.#forwarding.route(roomId, parts.placeNew());
  }

  /**
   * Create a room cluster-wide (`POST /ws/{id}` with `id`, `POST /new_room` without): on the
   * least-loaded node, with an exclusive claim; a generated id that is taken is drawn again.
   * Resolves with the room's id.
   *
   * @throws {HttpError} as on one server (400, 403, 409), or 503.
   */
  createRoom(id?: string): Promise<string> {
    return this.#creation.create(id, () => this.#ready());
  }

  /** The live nodes (and, with `withRooms`, each one's rooms, asked of it over its link). */
  view(withRooms: boolean): Promise<ClusterView> {
    return clusterView(this.#parts, withRooms);
  }

  /** The cluster's lines for `/metrics`. */
  metricsText(): string {
    return clusterMetrics(this.#parts, this.#fenced);
  }

  /**
   * Drain: take no new rooms; move each room that can be snapshotted to another node, live (its
   * clients that reach it through other nodes stay connected); close the others with 1012 (with
   * `close`, which may keep their state) so their clients reconnect to other nodes (waiting at
   * most `timeoutMs` for their in-flight events); release them, close the forwarded clients with
   * 1012, and leave the cluster.
   */
  drain(timeoutMs: number, close?: (room: Room) => Promise<unknown>): Promise<void> {
    this.#draining = true;
    const moves = this.#moves;
    return this.#drained ??= drainNode({
      lease: this.#lease,
      registry: this.#registry,
      claims: this.ownership,
      pool: this.#pool,
      coordinator: this.#parts.coordinator,
      logger: this.#parts.logger,
      move: moves && ((room) => this.#moveAway(moves, room)),
      close,
    }, timeoutMs);
  }

  /** Move `room` to the least-loaded other node, if there is one. */
  #moveAway(moves: RoomMoves, room: Room): Promise<boolean> {
    const target = this.#placement.other(this.#lease.id)?.id;
    return target === undefined ? Promise.resolve(false) : moves.moveOut(room, target);
  }

  #info() {
    let clients = this.#stats.clients;
    for (const room of this.#registry?.rooms() ?? []) clients += room.clientCount;
    return {
      link: this.#linkAddress,
      http: this.#options.httpAddress ?? "",
      rooms: this.#registry?.size ?? 0,
      clients,
      draining: this.#draining,
    };
  }

  #onNodes(nodes: readonly LiveNode[]): void {
    this.#placement.update(nodes);
    this.#pool.retain(new Set(nodes.map((node) => node.id)));
  }

  /**
   * The lease lapsed: this node's rooms are no longer its own. From now on the lease check drops
   * every event and send; the rooms and links close right after the event that found the lapse
   * (not inside it, where a room would be closed in the middle of its own event).
   */
  #lapse(): void {
    this.#fenced++;
    this.ownership.clear();
    queueMicrotask(() => {
      void this.#registry?.closeAll(CloseCode.ServiceRestart, LAPSE_REASON);
      this.#pool.closeLinks(LAPSE_REASON);
    });
  }

  #closeRoom(roomId: string, reason: string): void {
    for (const room of this.#registry?.rooms() ?? []) {
      if (room.id === roomId) void room.close(CloseCode.ServiceRestart, reason);
    }
  }

  async #ready(): Promise<void> {
    if (this.#draining) throw new HttpError(503, "Node is draining; try again");
    try {
      await withDeadline(this.#lease.registered, READY_MS, "The cluster lease");
    } catch (error) {
      throw new HttpError(503, "Cluster node is not ready; try again", { cause: error });
    }
  }

  async #ask<T>(call: Promise<T>): Promise<T> {
    try {
      return await withDeadline(call, ASK_MS, "The cluster coordinator");
    } catch (error) {
      throw new HttpError(503, "Cluster coordinator unavailable; try again", { cause: error });
    }
  }

  async #isLiveNode(id: string): Promise<boolean> {
    if (this.#placement.isLive(id)) return true;
    try {
      this.#placement.update(await this.#ask(this.#parts.coordinator.nodes()));
    } catch {
      return false;
    }
    return this.#placement.isLive(id);
  }

  async #link(node: string): Promise<NodeLink> {
    if (this.#placement.address(node) === undefined) await this.#isLiveNode(node);
    const address = this.#placement.address(node);
    if (address === undefined) throw new Error(`Node ${node} is not live`);
    return await this.#pool.get(node, address);
  }

  /** A peer's request over a link: its rooms, or a room to create here. */
  async #answer(body: unknown): Promise<unknown> {
    const request = body as { op?: string; room?: string; generated?: boolean };
    if (request.op === "rooms") return roomList(this.#parts.registry);
    if (request.op === "adopt") {
      return this.#moves ? await this.#moves.adopt(body) : { status: 501, error: "No moves here" };
    }
    if (request.op === "create" && typeof request.room === "string") {
      return await this.#creation.answer(request.room, request.generated === true);
    }
    return { status: 400, error: `Unknown request "${request.op}"` };
  }
}
