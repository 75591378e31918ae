/**
 * A node of a cluster: its lease, its claims on rooms, its links to the other nodes, and the
 * answers it gives the upgrade path (where a room lives) and the HTTP surface (creating rooms,
 * the cluster view, metrics).
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import { CloseCode } from "../room/close_code.ts";
import type { RoomInfo } from "../room/room.ts";
import type { RoomIdStrategy } from "../room/room_id.ts";
import type { RoomRegistry } from "../room/room_registry.ts";
import type { ClientData } from "../service.ts";
import { describeError, type Logger } from "../util/logger.ts";
import { withDeadline } from "./_deadline.ts";
import { type ClusterOptions, DEFAULT_LEASE_MS } from "./cluster_options.ts";
import type { Coordinator, LiveNode, RoomOwner } from "./coordinator.ts";
import { drainNode } from "./drain.ts";
import { ForwardedClient, type ForwardingStats, RoomMovedError } from "./forwarded_client.ts";
import { ForwardedSocket } from "./forwarded_socket.ts";
import { LinkFrame } from "./link_protocol.ts";
import { LinkPool } from "./link_pool.ts";
import { NodeLease } from "./node_lease.ts";
import type { NodeLink } from "./node_link.ts";
import { Placement } from "./placement.ts";
import { RedisCoordinator } from "./redis_coordinator.ts";
import { RoomClaims } from "./room_claims.ts";
import type { RemoteJoin, RoomPlacement, RoomRoute } from "./room_placement.ts";

/** A node as the cluster view shows it. */
export interface ClusterViewNode {
  /** The node's id. */
  readonly id: string;
  /** Its HTTP address, if it was told (`httpAddress`). */
  readonly http: string;
  /** Where the other nodes reach it. */
  readonly link: string;
  /** Rooms it runs, as of its last renewal. */
  readonly rooms: number;
  /** Clients connected to it, as of its last renewal. */
  readonly clients: number;
  /** It is draining (takes no new rooms). */
  readonly draining: boolean;
  /** This is the node that answered. */
  readonly self: boolean;
  /** The node's rooms (with room listing on), or why they could not be had. */
  readonly roomList?: readonly RoomInfo[] | { readonly error: string };
}

/** `GET /cluster`: the live nodes, from their leases. */
export interface ClusterView {
  /** The node that answered. */
  readonly node: string;
  /** Every live node. */
  readonly nodes: readonly ClusterViewNode[];
}

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
}

/** What clients of a node that fenced itself are told (close 1012). */
const LAPSE_REASON = "Node lost its cluster lease; reconnect";

/** Most hops a client follows while a room moves under it. */
const MAX_HOPS = 3;
/** How long a request waits for this node to hold a lease. */
const READY_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  readonly #config: ClusterNodeConfig;
  readonly #coordinator: Coordinator;
  readonly #lease: NodeLease;
  readonly #pool: LinkPool;
  readonly #placement: Placement;
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
    this.#config = config;
    const { logger } = config;
    const redis = options.coordinator === undefined
      ? new RedisCoordinator(options.redis!, { prefix: options.keyPrefix, logger })
      : undefined;
    this.#coordinator = options.coordinator ?? redis!;
    this.#placement = new Placement(options.placement ?? "least-loaded");
    this.#lease = new NodeLease({
      coordinator: this.#coordinator,
      leaseMs,
      logger,
      info: () => this.#info(),
      onNodes: (nodes) => this.#onNodes(nodes),
      onLapse: () => this.#lapse(),
    });
    this.ownership = new RoomClaims({
      coordinator: this.#coordinator,
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
        this.#admitForwarded(link, channel, room, mayCreate, data),
      request: (body) => this.#answer(body),
    }, logger);
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

  /** Listen for the other nodes, register, and start renewing. */
  start(registry: RoomRegistry): void {
    this.#registry = registry;
    this.#linkAddress = this.#pool.listen(this.#options.nodeAddress ?? "127.0.0.1:0");
    this.#lease.start();
  }

  /** Where a WebSocket to `roomId` goes (see {@linkcode RoomPlacement}). */
  async locate(roomId: string): Promise<RoomRoute | undefined> {
    const registry = this.#registry!;
    if (registry.has(roomId) && this.ownership.has(roomId)) return undefined;
    await this.#ready();
    const owner = await this.#lookup(roomId);
    if (owner !== undefined) return this.#route(roomId, owner.node);
    if (!this.#config.strategy.implicitCreation) {
      throw new HttpError(404, `Room "${roomId}" does not exist`);
    }
    return this.#route(roomId, this.#placeNew());
  }

  /**
   * Create a room cluster-wide (`POST /ws/{id}` with `id`, `POST /new_room` without): on the
   * least-loaded node, with an exclusive claim; a generated id that is taken is drawn again.
   * Resolves with the room's id.
   *
   * @throws {HttpError} as on one server (400, 403, 409), or 503.
   */
  async createRoom(id?: string): Promise<string> {
    const registry = this.#registry!;
    const strategy = this.#config.strategy;
    // The registry refuses what the strategy forbids, with its own words, before anything else.
    if (id === undefined && strategy.generate === undefined) registry.createGenerated();
    if (id !== undefined && !strategy.explicitCreation) registry.createExplicit(id);
    await this.#ready();
    let last: unknown;
    for (let attempt = 0; attempt < (id === undefined ? 5 : 1); attempt++) {
      const room = id ?? strategy.generate!();
      try {
        return await this.#create(room, id === undefined, this.#placeNew());
      } catch (error) {
        last = error;
        if (!(id === undefined && error instanceof HttpError && error.status === 409)) throw error;
      }
    }
    throw last;
  }

  /** The live nodes (and, with `withRooms`, each one's rooms, asked of it over its link). */
  async view(withRooms: boolean): Promise<ClusterView> {
    let nodes: readonly LiveNode[] = this.#placement.nodes;
    try {
      nodes = await this.#ask(this.#coordinator.nodes());
    } catch {
      // the last listing will do
    }
    const self = this.id;
    const views = await Promise.all(nodes.map(async (node): Promise<ClusterViewNode> => {
      const view = {
        id: node.id,
        http: node.http,
        link: node.link,
        rooms: node.rooms,
        clients: node.clients,
        draining: node.draining,
        self: node.id === self,
      };
      if (!withRooms) return view;
      try {
        const roomList = node.id === self
          ? this.#roomList()
          : await (await this.#pool.get(node.id, node.link)).request({ op: "rooms" });
        return { ...view, roomList: roomList as RoomInfo[] };
      } catch (error) {
        return { ...view, roomList: { error: describeError(error) } };
      }
    }));
    return { node: self, nodes: views };
  }

  /** The cluster's lines for `/metrics`. */
  metricsText(): string {
    let remote = 0;
    const links = new Set<NodeLink>();
    for (const link of this.#pool.links()) {
      links.add(link);
      remote += link.owned.size;
    }
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    metric(
      "jamsocket_cluster_nodes",
      "gauge",
      "Live nodes in the cluster.",
      this.#placement.nodes.length,
    );
    metric("jamsocket_cluster_links", "gauge", "Links open to other nodes.", links.size);
    metric(
      "jamsocket_cluster_forwarded_clients",
      "gauge",
      "Clients connected here whose room is on another node.",
      this.#stats.clients,
    );
    metric(
      "jamsocket_cluster_remote_clients",
      "gauge",
      "Clients in rooms here that connected through another node.",
      remote,
    );
    metric(
      "jamsocket_cluster_rooms_owned",
      "gauge",
      "Rooms this node holds a claim on.",
      this.ownership.size,
    );
    metric(
      "jamsocket_cluster_fenced_total",
      "counter",
      "Times this node fenced itself.",
      this.#fenced,
    );
    return lines.join("\n") + "\n";
  }

  /**
   * Drain: take no new rooms, close this node's rooms with 1012 so their clients reconnect to
   * other nodes (waiting at most `timeoutMs` for their in-flight events), release them, close the
   * forwarded clients with 1012, and leave the cluster.
   */
  drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    return this.#drained ??= drainNode({
      lease: this.#lease,
      registry: this.#registry,
      claims: this.ownership,
      pool: this.#pool,
      coordinator: this.#coordinator,
      logger: this.#config.logger,
    }, timeoutMs);
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

  /** The node for a new room: undefined for this one. */
  #placeNew(): string | undefined {
    return this.#placement.pick(this.id, this.#registry?.size ?? 0)?.id;
  }

  async #ready(): Promise<void> {
    if (this.#draining) throw new HttpError(503, "Node is draining; try again");
    try {
      await withDeadline(this.#lease.registered, READY_MS, "The cluster lease");
    } catch (error) {
      throw new HttpError(503, "Cluster node is not ready; try again", { cause: error });
    }
  }

  /** A coordinator call, bounded; any failure is a 503 (never act on a call that failed). */
  async #ask<T>(call: Promise<T>): Promise<T> {
    try {
      return await withDeadline(call, 2000, "The cluster coordinator");
    } catch (error) {
      throw new HttpError(503, "Cluster coordinator unavailable; try again", { cause: error });
    }
  }

  #lookup(roomId: string): Promise<RoomOwner | undefined> {
    return this.#ask(this.#coordinator.lookup(roomId));
  }

  async #isLiveNode(id: string): Promise<boolean> {
    if (this.#placement.isLive(id)) return true;
    try {
      this.#placement.update(await this.#ask(this.#coordinator.nodes()));
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

  #route(roomId: string, owner: string | undefined): RoomRoute {
    return { reserve: (data) => this.#reserve(roomId, owner, data, 0) };
  }

  /** Take a place for a client in `roomId` on `owner` (undefined: this node). */
  async #reserve(
    roomId: string,
    owner: string | undefined,
    data: ClientData | undefined,
    hops: number,
  ): Promise<RemoteJoin | undefined> {
    if (hops > MAX_HOPS) throw new HttpError(503, "Room is moving between nodes; try again");
    if (owner === undefined || owner === this.id) {
      this.#registry!.checkJoinable(roomId);
      const outcome = await this.ownership.acquire(roomId, "join");
      if (outcome.owner === undefined) return undefined;
      return await this.#reserve(roomId, outcome.owner, data, hops + 1);
    }
    let link: NodeLink;
    try {
      link = await this.#link(owner);
    } catch (error) {
      this.#config.logger.warn(
        `Cluster: node ${owner} (room "${roomId}") unreachable: ${describeError(error)}`,
      );
      return await this.#reserve(roomId, await this.#replace(roomId, owner), data, hops + 1);
    }
    try {
      const client = await ForwardedClient.reserve(
        link,
        roomId,
        this.#config.strategy.implicitCreation,
        data === undefined ? undefined : JSON.stringify(data),
        this.#stats,
      );
      return (socket) => client.attach(socket);
    } catch (error) {
      if (!(error instanceof RoomMovedError)) throw error;
      return await this.#reserve(roomId, error.owner, data, hops + 1);
    }
  }

  /**
   * The owner of `roomId` is unreachable: wait (at most one lease and a second) until the
   * coordinator names another owner or none, then place the room anew. Never place it while the
   * unreachable owner's lease may still live.
   */
  async #replace(roomId: string, unreachable: string): Promise<string | undefined> {
    const deadline = performance.now() + this.#lease.leaseMs + 1000;
    while (performance.now() < deadline) {
      await sleep(Math.min(250, this.#lease.leaseMs / 8));
      const owner = await this.#lookup(roomId);
      if (owner?.node === unreachable) continue;
      if (owner !== undefined) return owner.node;
      if (!this.#config.strategy.implicitCreation) {
        throw new HttpError(404, `Room "${roomId}" does not exist`);
      }
      return this.#placeNew();
    }
    throw new HttpError(503, "The room's node is unreachable; try again");
  }

  /** A peer forwards a client to a room here (or to be created here). */
  #admitForwarded(
    link: NodeLink,
    channel: number,
    roomId: string,
    mayCreate: boolean,
    data: string | undefined,
  ): void {
    const socket = new ForwardedSocket(link, channel);
    link.owned.set(channel, socket);
    const refuse = (status: number, reason: string) => {
      if (link.owned.get(channel) === socket) link.code(LinkFrame.Refused, channel, status, reason);
    };
    const admit = async () => {
      const registry = this.#registry!;
      if (this.#draining || !this.#lease.valid()) {
        throw new HttpError(503, "Node is draining; try again");
      }
      if (!registry.has(roomId)) {
        if (!mayCreate) throw new HttpError(404, `Room "${roomId}" does not exist`);
        registry.checkJoinable(roomId);
        const outcome = await this.ownership.acquire(roomId, "join");
        if (outcome.owner !== undefined) return refuse(0, outcome.owner);
      }
      registry.checkJoinable(roomId);
      if (link.owned.get(channel) !== socket) return; // the entry gave up meanwhile
      const room = registry.forConnection(roomId);
      room.accept(socket, data === undefined ? undefined : JSON.parse(data));
      link.signal(LinkFrame.Joined, channel);
    };
    admit().catch((error) => {
      if (error instanceof HttpError) return refuse(error.status, error.message);
      this.#config.logger.error(
        `Cluster: could not admit a forwarded client to room "${roomId}": ${describeError(error)}`,
      );
      refuse(500, "Internal server error");
    });
  }

  /** Create `room` on `target` (undefined: here). */
  async #create(room: string, generated: boolean, target: string | undefined): Promise<string> {
    if (target !== undefined) {
      let link: NodeLink | undefined;
      try {
        link = await this.#link(target);
      } catch {
        // the target went away: a new room may go anywhere, this node included
      }
      if (link !== undefined) {
        const reply = await link.request({ op: "create", room, generated }) as {
          id?: string;
          status?: number;
          error?: string;
        };
        if (reply.id !== undefined) return reply.id;
        throw new HttpError(reply.status ?? 503, reply.error ?? "Room creation failed; try again");
      }
    }
    return await this.#createHere(room, generated);
  }

  async #createHere(room: string, generated: boolean): Promise<string> {
    const registry = this.#registry!;
    const create = () => generated ? registry.createGenerated(room) : registry.createExplicit(room);
    if (registry.has(room)) create(); // throws the registry's 409
    const outcome = await this.ownership.acquire(room, "exclusive");
    if (outcome.owner !== undefined) {
      throw new HttpError(
        409,
        generated ? `Generated room ID "${room}" is taken` : `Room "${room}" already exists`,
      );
    }
    try {
      return create().id;
    } catch (error) {
      this.ownership.abandon(room);
      throw error;
    }
  }

  #roomList(): RoomInfo[] {
    return [...this.#registry?.rooms() ?? []].map((room) => room.info());
  }

  async #answer(body: unknown): Promise<unknown> {
    const request = body as { op?: string; room?: string; generated?: boolean };
    if (request.op === "rooms") return this.#roomList();
    if (request.op === "create" && typeof request.room === "string") {
      try {
        if (this.#draining) throw new HttpError(503, "Node is draining; try again");
        return { id: await this.#createHere(request.room, request.generated === true) };
      } catch (error) {
        if (error instanceof HttpError) return { status: error.status, error: error.message };
        throw error;
      }
    }
    return { status: 400, error: `Unknown request "${request.op}"` };
  }
}
