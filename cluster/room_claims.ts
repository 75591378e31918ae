/**
 * The rooms this node owns: claimed in the coordinator before a room is created here, checked
 * by the registry as it creates one, refreshed while it lives, released once it has closed.
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import type { RoomEngineFactory } from "../room/room_engine.ts";
import type { RoomOwnership } from "../room/room_registry.ts";
import { describeError, type Logger } from "../util/logger.ts";
import type { AcquireMode, Coordinator } from "./coordinator.ts";
import { withDeadline } from "./_deadline.ts";
import { fencedEngines } from "./fenced_engine.ts";
import type { NodeLease } from "./node_lease.ts";

/** How long one claim may take; past it the claim counts as failed (it may have succeeded). */
const CALL_MS = 2000;

/** How long a claim may wait for its room to be created before it is given back. */
const ORPHAN_MS = 15_000;

/** What {@linkcode RoomClaims.acquire} found. */
export type ClaimOutcome =
  /** This node owns the room now. */
  | { readonly owner?: undefined; readonly fence: number }
  /** Another node owns it. */
  | { readonly owner: string };

interface Claim {
  readonly fence: number;
  hosted: boolean;
  orphan: ReturnType<typeof setTimeout> | undefined;
}

/** Options of {@linkcode RoomClaims}. */
export interface RoomClaimsOptions {
  readonly coordinator: Coordinator;
  readonly lease: NodeLease;
  readonly logger: Logger;
  /** How often the records of owned rooms are refreshed, in ms. */
  readonly refreshEveryMs: number;
  /** The coordinator names another owner for a room this node runs: close it now. */
  readonly onLost: (room: string) => void;
}

/** The coordinator could not be asked: never create a room after that (Colyseus#978). */
function unavailable(error: unknown): HttpError {
  return new HttpError(503, "Cluster coordinator unavailable; try again", { cause: error });
}

/**
 * This node's claims on rooms. A room is created here only with a claim that the coordinator
 * granted ({@linkcode RoomClaims.create} is the registry's {@linkcode RoomOwnership} hook), and
 * its engine is fenced by the node's lease; when its engine has finished, the claim is released.
 * A claim whose room is never created (the client went away between claim and join) is released
 * after 15 s.
 *
 * @example
 * ```ts ignore
 * const claims = new RoomClaims({ coordinator, lease, logger, refreshEveryMs: 200_000, onLost });
 * const outcome = await claims.acquire("lobby", "join");
 * if (outcome.owner === undefined) registry.forConnection("lobby");
 * ```
 */
export class RoomClaims implements RoomOwnership {
  readonly #options: RoomClaimsOptions;
  readonly #claims = new Map<string, Claim>();
  readonly #acquiring = new Map<string, Promise<ClaimOutcome>>();
  readonly #releasing = new Set<Promise<unknown>>();
  #refresh: ReturnType<typeof setInterval> | undefined;

  /** No claims yet; refreshing starts at once. */
  constructor(options: RoomClaimsOptions) {
    this.#options = options;
    this.#refresh = setInterval(() => void this.#refreshAll(), options.refreshEveryMs);
  }

  /** Rooms claimed now. */
  get size(): number {
    return this.#claims.size;
  }

  /** This node holds a claim on `room`. */
  has(room: string): boolean {
    return this.#claims.has(room);
  }

  /**
   * Claim `room` for this node, one claim at a time per room. A room already claimed here is
   * this node's at once (for `join`) or a conflict (for `exclusive`: resolves with this node as
   * the owner). Waits out this node's first lease period if need be.
   *
   * @throws {HttpError} 503 when the coordinator cannot be asked or does not answer in time.
   */
  acquire(room: string, mode: AcquireMode): Promise<ClaimOutcome> {
    const claim = this.#claims.get(room);
    const self = this.#options.lease.id;
    if (claim !== undefined) {
      return Promise.resolve(mode === "join" ? { fence: claim.fence } : { owner: self });
    }
    let acquiring = this.#acquiring.get(room);
    if (acquiring === undefined) {
      acquiring = this.#acquire(room, mode).finally(() => this.#acquiring.delete(room));
      this.#acquiring.set(room, acquiring);
      return acquiring;
    }
    return acquiring.then((outcome) =>
      outcome.owner === undefined && mode === "exclusive" ? { owner: self } : outcome
    );
  }

  /** The registry asks before creating `id`: only with a claim, and a lease proven now. */
  create(id: string, engines: RoomEngineFactory): RoomEngineFactory {
    const claim = this.#claims.get(id);
    if (claim === undefined || !this.#options.lease.valid()) {
      throw new HttpError(503, `Room "${id}" is not owned by this node; try again`);
    }
    const fenced = fencedEngines(engines, this.#options.lease, (room) => this.#closed(room, claim));
    return (roomId, output, environment, restore) => {
      claim.hosted = true;
      clearTimeout(claim.orphan);
      return fenced(roomId, output, environment, restore);
    };
  }

  /** The fencing token of this node's claim on `room`, if it has one. */
  fenceOf(room: string): number | undefined {
    return this.#claims.get(room)?.fence;
  }

  /**
   * Hold the claim on `room` that the coordinator transferred to this node with `fence` (a room
   * moving in from another node), as if acquired here.
   */
  adopt(room: string, fence: number): void {
    const claim: Claim = { fence, hosted: false, orphan: undefined };
    claim.orphan = setTimeout(() => {
      if (!claim.hosted && this.#claims.get(room) === claim) this.#closed(room, claim);
    }, ORPHAN_MS);
    this.#claims.set(room, claim);
  }

  /** Drop the claim on `room` without releasing it (it was transferred to another node). */
  forget(room: string): void {
    const claim = this.#claims.get(room);
    if (claim === undefined) return;
    clearTimeout(claim.orphan);
    this.#claims.delete(room);
  }

  /** Give back the claim on `room`, whose room could not be created after all. */
  abandon(room: string): void {
    const claim = this.#claims.get(room);
    if (claim !== undefined && !claim.hosted) this.#closed(room, claim);
  }

  /** Resolves once every release under way has been answered (or failed). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#releasing]);
  }

  /** Forget every claim without releasing it (the lease lapsed: they are not this node's). */
  clear(): void {
    for (const claim of this.#claims.values()) clearTimeout(claim.orphan);
    this.#claims.clear();
  }

  /** Stop refreshing and forget every claim. */
  close(): void {
    clearInterval(this.#refresh);
    this.clear();
  }

  async #acquire(room: string, mode: AcquireMode): Promise<ClaimOutcome> {
    const { coordinator, lease } = this.#options;
    // A node within its first lease period waits it out (at most one lease, and a second).
    const deadline = performance.now() + lease.leaseMs + 1000;
    for (let attempt = 0;; attempt++) {
      const id = lease.id;
      let result;
      try {
        result = await withDeadline(coordinator.acquire(room, id, mode), CALL_MS, "A claim");
      } catch (error) {
        throw unavailable(error);
      }
      if (result.acquired) {
        if (id !== lease.id || !lease.valid()) {
          throw new HttpError(503, "This node lost its cluster lease; try again");
        }
        const claim: Claim = { fence: result.fence, hosted: false, orphan: undefined };
        claim.orphan = setTimeout(() => {
          if (!claim.hosted && this.#claims.get(room) === claim) this.#closed(room, claim);
        }, ORPHAN_MS);
        this.#claims.set(room, claim);
        return { fence: result.fence };
      }
      if (result.owner !== undefined) return { owner: result.owner.node };
      const wait = Math.max(20, Math.min(result.retryInMs, 250));
      if (performance.now() + wait > deadline || attempt > 100) {
        throw new HttpError(503, "This node cannot take rooms yet; try again");
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  #closed(room: string, claim: Claim): void {
    clearTimeout(claim.orphan);
    if (this.#claims.get(room) !== claim) return;
    this.#claims.delete(room);
    const { coordinator, lease, logger } = this.#options;
    const releasing = coordinator.release(room, lease.id, claim.fence).catch((error) =>
      logger.warn(
        `Cluster: could not release room "${room}" (its record lapses with this node's lease): ${
          describeError(error)
        }`,
      )
    ).finally(() => this.#releasing.delete(releasing));
    this.#releasing.add(releasing);
  }

  async #refreshAll(): Promise<void> {
    const { coordinator, lease, logger } = this.#options;
    if (this.#claims.size === 0 || !lease.valid()) return;
    const owned = [...this.#claims].map(([room, claim]) => ({ room, fence: claim.fence }));
    try {
      const lost = await coordinator.refresh(lease.id, owned);
      for (const room of lost) {
        const claim = this.#claims.get(room);
        if (claim === undefined) continue;
        logger.error(`Cluster: room "${room}" is recorded for another owner; closing it here`);
        clearTimeout(claim.orphan);
        this.#claims.delete(room);
        this.#options.onLost(room);
      }
    } catch (error) {
      logger.warn(`Cluster: could not refresh the records of owned rooms: ${describeError(error)}`);
    }
  }
}
