/**
 * The coordination seam of a cluster: node leases and room ownership, behind a small interface
 * (register, renew, look up, acquire, refresh, release, transfer) so that a stricter backend
 * (etcd: leases and revisions from Raft) can be added next to the Redis one.
 *
 * The rules every backend keeps:
 * - a node holds one lease; a room's owner counts only while its owner's lease lives, so one
 *   renewal keeps all of a node's rooms;
 * - a lease is renewed only by the node that holds it, and only while it still exists (a node
 *   that resumes after its lease ran out cannot bring it back);
 * - only a node claims rooms for itself, atomically, and each claim gets a fencing token larger
 *   than any the room had before;
 * - a node claims rooms only once one whole lease period has passed since it registered, so that
 *   even a coordinator that forgot every key (a restart without persistence) never hands a room
 *   to a second node while the first may still be serving it;
 * - everything stored has a time to live.
 *
 * @module
 */

/** What a node tells the cluster about itself; renewed with its lease. */
export interface NodeInfo {
  /** The node's id: random, new each time a node (re)registers. */
  readonly id: string;
  /** `host:port` where other nodes reach this node's link listener. */
  readonly link: string;
  /** The node's HTTP address, if known (for the cluster view only). */
  readonly http: string;
  /** Rooms this node runs now. */
  readonly rooms: number;
  /** Clients connected to this node now (its own and forwarded ones). */
  readonly clients: number;
  /** The node takes no new rooms (it is draining). */
  readonly draining: boolean;
}

/** A live node as the coordinator lists it. */
export interface LiveNode extends NodeInfo {
  /** Milliseconds until this node may claim rooms (0: it may). */
  readonly readyInMs: number;
}

/** Who owns a room now. */
export interface RoomOwner {
  /** The owner's node id. */
  readonly node: string;
  /** The fencing token of the owner's claim. */
  readonly fence: number;
}

/** How {@linkcode Coordinator.acquire} treats a room. */
export type AcquireMode =
  /** Claim it if nobody owns it; a room this node already owns gets a new token. */
  | "join"
  /** Claim it only if nobody owns it (a room created by `POST`): owned already is a conflict. */
  | "exclusive";

/** What {@linkcode Coordinator.acquire} answered. */
export type AcquireResult =
  /** This node owns the room now, with this fencing token. */
  | { readonly acquired: true; readonly fence: number }
  /** Another live node owns it (or this node, for an `exclusive` claim). */
  | { readonly acquired: false; readonly owner: RoomOwner }
  /** This node may not claim rooms yet (one lease period after it registered), or lost its lease. */
  | { readonly acquired: false; readonly owner?: undefined; readonly retryInMs: number };

/** What {@linkcode Coordinator.renew} answered. */
export type RenewResult =
  /** Renewed; the live nodes, this one included. */
  | { readonly renewed: true; readonly nodes: readonly LiveNode[] }
  /** The lease is gone (it expired, or the coordinator lost it): the node must fence itself. */
  | { readonly renewed: false };

/** A room this node believes it owns, as {@linkcode Coordinator.refresh} checks it. */
export interface OwnedRoom {
  /** The room's id. */
  readonly room: string;
  /** The fencing token of this node's claim. */
  readonly fence: number;
}

/**
 * A cluster's coordination backend. Every method may reject (the backend is unreachable); callers
 * bound each call in time and never act on a call that failed or timed out.
 *
 * @example A node's life, against any backend
 * ```ts ignore
 * await coordinator.register(info, 3000);
 * const claim = await coordinator.acquire("lobby", info.id, "join");
 * if (claim.acquired) runRoom("lobby", claim.fence);
 * const renewal = await coordinator.renew(info, 3000);
 * if (!renewal.renewed) fenceEverything();
 * ```
 */
export interface Coordinator {
  /** Take a new lease for `node`, of `leaseMs`; rejects if the id is taken. */
  register(node: NodeInfo, leaseMs: number): Promise<void>;
  /** Extend `node`'s lease by `leaseMs` and update what it tells, only if the lease still lives. */
  renew(node: NodeInfo, leaseMs: number): Promise<RenewResult>;
  /** Drop `node`'s lease (a node leaving on purpose). Its rooms are free at once. */
  unregister(nodeId: string): Promise<void>;
  /** The live nodes. */
  nodes(): Promise<LiveNode[]>;
  /** The room's owner, if it has one whose lease lives. */
  lookup(room: string): Promise<RoomOwner | undefined>;
  /** Claim `room` for `nodeId` (the caller itself), atomically. */
  acquire(room: string, nodeId: string, mode: AcquireMode): Promise<AcquireResult>;
  /**
   * Keep the records of rooms `nodeId` owns from expiring; resolves with the rooms whose record
   * names another owner or token (the node must stop serving them).
   */
  refresh(nodeId: string, rooms: readonly OwnedRoom[]): Promise<string[]>;
  /** Give up `room` if `nodeId` still owns it with `fence`; false if it did not. */
  release(room: string, nodeId: string, fence: number): Promise<boolean>;
  /**
   * Hand `room` from `from` (owning it with `fence`) to the live node `to`, with a new token;
   * resolves with that token, or undefined if `from` did not own it so or `to` is not live.
   */
  transfer(room: string, from: string, fence: number, to: string): Promise<number | undefined>;
  /** Close the connection to the backend. */
  close(): Promise<void>;
}
