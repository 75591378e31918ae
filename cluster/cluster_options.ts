/**
 * The options of a cluster node, and their defaults.
 *
 * @module
 */

import type { Coordinator } from "./coordinator.ts";

/** Where new rooms go: see {@linkcode ClusterOptions.placement}. */
export type PlacementPolicy = "least-loaded" | "local";

/** The default lease length, in ms. */
export const DEFAULT_LEASE_MS = 3000;

/**
 * Options of a cluster node (`serve(service, { cluster: { redis } })`). Every node of a cluster
 * points at the same Redis and runs the same service with the same options.
 *
 * @example
 * ```ts ignore
 * serve(ChatServer, { cluster: { redis: "redis://10.0.0.2:6379", nodeAddress: "10.0.0.5:7000" } });
 * ```
 */
export interface ClusterOptions {
  /** The Redis every node shares: `redis://[user:password@]host:port[/db]`. */
  readonly redis?: string;
  /** A coordination backend to use instead of `redis` (another backend, or a test's). */
  readonly coordinator?: Coordinator;
  /**
   * `host:port` this node listens on for the other nodes, and tells them to connect to. It must
   * be reachable from every other node as written (port 0: a free port, fine on one machine).
   * @default {"127.0.0.1:0"}
   */
  readonly nodeAddress?: string;
  /**
   * Milliseconds a node's lease lasts: a node that stops renewing (killed, paused, cut off) is
   * gone this long after its last renewal, and its rooms can start elsewhere. It renews every
   * quarter of it and fences itself a fifth of it early.
   * @default {3000}
   */
  readonly leaseMs?: number;
  /**
   * Where a new room goes: `least-loaded` (the live node with the fewest rooms; this node on a
   * tie), or `local` (the node the first client reached: use it behind a balancer that hashes on
   * the room, so clients land on the owner).
   * @default {"least-loaded"}
   */
  readonly placement?: PlacementPolicy;
  /**
   * Prefix of every Redis key (clusters sharing one Redis need different prefixes).
   * @default {"jamsocket:"}
   */
  readonly keyPrefix?: string;
  /** This node's public HTTP address, shown in the cluster view (`GET /cluster`). */
  readonly httpAddress?: string;
}
