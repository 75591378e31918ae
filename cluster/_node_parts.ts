/**
 * What the pieces of a cluster node share: the node's parts, and the few calls they all make.
 *
 * @module
 */

import type { RoomIdStrategy } from "../room/room_id.ts";
import type { RoomRegistry } from "../room/room_registry.ts";
import type { Logger } from "../util/logger.ts";
import type { Coordinator } from "./coordinator.ts";
import type { ForwardingStats } from "./forwarded_client.ts";
import type { LinkPool } from "./link_pool.ts";
import type { NodeLease } from "./node_lease.ts";
import type { NodeLink } from "./node_link.ts";
import type { Placement } from "./placement.ts";
import type { RoomClaims } from "./room_claims.ts";

/** One node's parts, as forwarding, room creation and the view use them. */
export interface NodeParts {
  readonly registry: RoomRegistry;
  readonly strategy: RoomIdStrategy;
  readonly logger: Logger;
  readonly coordinator: Coordinator;
  readonly lease: NodeLease;
  readonly claims: RoomClaims;
  readonly pool: LinkPool;
  readonly placement: Placement;
  readonly stats: ForwardingStats;
  /** The node is draining: it takes no new rooms or clients. */
  readonly draining: boolean;
  /** A coordinator call, bounded; any failure is a 503 (never act on a call that failed). */
  ask<T>(call: Promise<T>): Promise<T>;
  /** The link to a live node. @throws {Error} the node is not live or cannot be reached. */
  link(node: string): Promise<NodeLink>;
  /** The node for a new room: undefined for this one. */
  placeNew(): string | undefined;
  /** A room this node just claimed is about to be created here: load its stored snapshot. */
  prepare(roomId: string): Promise<void>;
}
