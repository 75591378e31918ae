/**
 * Draining a node on SIGTERM: it stops taking rooms, closes its rooms with 1012 so their clients
 * reconnect through other nodes, gives up its claims and its lease, and leaves.
 *
 * @module
 */

import { CloseCode } from "../room/close_code.ts";
import type { Room } from "../room/room.ts";
import type { RoomRegistry } from "../room/room_registry.ts";
import { describeError, type Logger } from "../util/logger.ts";
import { withDeadline } from "./_deadline.ts";
import type { Coordinator } from "./coordinator.ts";
import type { LinkPool } from "./link_pool.ts";
import type { NodeLease } from "./node_lease.ts";
import type { RoomClaims } from "./room_claims.ts";

/** What a drain works on. */
export interface DrainParts {
  readonly lease: NodeLease;
  readonly registry: RoomRegistry | undefined;
  readonly claims: RoomClaims;
  readonly pool: LinkPool;
  readonly coordinator: Coordinator;
  readonly logger: Logger;
  /**
   * Move a room to another node, live; resolves with whether it left this node (the rooms that
   * did not are closed). Without it every room is closed.
   */
  readonly move?: (room: Room) => Promise<boolean>;
  /** Close a room that did not move (the server keeps its state, when it can). */
  readonly close?: (room: Room) => Promise<unknown>;
}

/** What clients of a draining node are told. */
export const DRAIN_REASON = "Node draining; reconnect";

/** Each step after the rooms' own events may take this long. */
const STEP_MS = 1000;
/** Rooms moved at once. */
const MOVES_AT_ONCE = 8;

/**
 * Drain a node (already marked draining, so it refuses new rooms and clients): tell the cluster
 * (one renewal, so other nodes stop placing rooms here), close every room with 1012 and wait at
 * most `timeoutMs` for their in-flight events, wait for the claims' releases, close the forwarded
 * clients with 1012, drop the lease, close the links and the coordinator. Resolves within about
 * `timeoutMs` + 4 s, whatever Redis does.
 *
 * @example
 * ```ts ignore
 * await drainNode({ lease, registry, claims, pool, coordinator, logger }, 10_000);
 * ```
 */
export async function drainNode(parts: DrainParts, timeoutMs: number): Promise<void> {
  const { lease, registry, claims, pool, coordinator, logger } = parts;
  const step = async (what: string, work: Promise<unknown>, ms = STEP_MS) => {
    try {
      await withDeadline(work, ms, what);
    } catch (error) {
      logger.warn(`Cluster: drain went on without ${what}: ${describeError(error)}`);
    }
  };
  const rooms = registry?.size ?? 0;
  logger.info(`Cluster: node ${lease.id} draining (${rooms} rooms)`);
  await step("telling the cluster", lease.renewNow());
  if (registry !== undefined && parts.move !== undefined) {
    const moving = moveAll([...registry.rooms()], parts.move, logger).then((moved) => {
      if (rooms > 0) logger.info(`Cluster: ${moved} of ${rooms} rooms moved to other nodes`);
    });
    await step("moving the rooms", moving, timeoutMs);
  }
  if (registry !== undefined) {
    await step(
      "the rooms' last events",
      registry.closeAll(CloseCode.ServiceRestart, DRAIN_REASON, undefined, parts.close),
      timeoutMs,
    );
  }
  await step("releasing the rooms", claims.settled());
  pool.closeLinks(DRAIN_REASON);
  await step("dropping the lease", lease.stop(true));
  claims.close();
  pool.close(DRAIN_REASON);
  await step("closing the coordinator", coordinator.close());
  logger.info(`Cluster: node drained`);
}

/** Move `rooms`, a few at a time; resolves with how many moved. */
async function moveAll(
  rooms: Room[],
  move: (room: Room) => Promise<boolean>,
  logger: Logger,
): Promise<number> {
  let moved = 0;
  const next = async (): Promise<void> => {
    const room = rooms.shift();
    if (room === undefined) return;
    try {
      if (!room.closed && await move(room)) moved++;
    } catch (error) {
      logger.warn(`Cluster: room "${room.id}" did not move: ${describeError(error)}`);
    }
    return next();
  };
  await Promise.all(Array.from({ length: MOVES_AT_ONCE }, next));
  return moved;
}
