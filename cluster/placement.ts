/**
 * Where new rooms go, from the live nodes each lease renewal lists.
 *
 * @module
 */

import type { LiveNode } from "./coordinator.ts";
import type { PlacementPolicy } from "./cluster_options.ts";

/**
 * The live nodes as last listed, and the choice of a node for a new room: the least loaded one
 * that takes rooms (not draining, past its first lease period), this node on a tie, or always
 * this node under the `local` policy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Placement } from "./placement.ts";
 *
 * const placement = new Placement("least-loaded");
 * const node = { link: "", http: "", clients: 0, draining: false, readyInMs: 0 };
 * placement.update([{ ...node, id: "a", rooms: 5 }, { ...node, id: "b", rooms: 1 }]);
 * assert.equal(placement.pick("a", 5)?.id, "b");
 * assert.equal(placement.pick("b", 1), undefined); // this node
 * ```
 */
export class Placement {
  readonly #policy: PlacementPolicy;
  #nodes = new Map<string, LiveNode & { readyAt: number; load: number }>();

  /** Placement under `policy`. */
  constructor(policy: PlacementPolicy) {
    this.#policy = policy;
  }

  /** The live nodes, as listed at the last renewal. */
  get nodes(): LiveNode[] {
    return [...this.#nodes.values()].map(({ readyAt: _, load: __, ...node }) => node);
  }

  /** Take a fresh list of live nodes. */
  update(nodes: readonly LiveNode[]): void {
    const now = performance.now();
    this.#nodes = new Map(
      nodes.map((node) => [node.id, { ...node, readyAt: now + node.readyInMs, load: node.rooms }]),
    );
  }

  /** `nodeId` was live at the last listing. */
  isLive(nodeId: string): boolean {
    return this.#nodes.has(nodeId);
  }

  /** The link address of a live node. */
  address(nodeId: string): string | undefined {
    return this.#nodes.get(nodeId)?.link;
  }

  /**
   * The least loaded other node that takes rooms (not `self`, not draining, past its first
   * lease period), whatever the policy: where a draining node moves its rooms.
   */
  other(self: string): LiveNode | undefined {
    const now = performance.now();
    let best: (LiveNode & { load: number }) | undefined;
    for (const node of this.#nodes.values()) {
      if (node.id === self || node.draining || node.readyAt > now) continue;
      if (best === undefined || node.load < best.load) best = node;
    }
    if (best !== undefined) best.load++;
    return best;
  }

  /**
   * The node a new room should go to: `undefined` for this node (`self`, with `rooms` rooms now),
   * or another live node (whose counted load grows by one, so a burst of rooms spreads). While
   * `self` is within its first lease period, any other node that takes rooms goes first.
   */
  pick(self: string, rooms: number): LiveNode | undefined {
    if (this.#policy === "local") return undefined;
    const now = performance.now();
    // A node within its first lease period claims nothing yet: prefer any node that may.
    const selfReady = (this.#nodes.get(self)?.readyAt ?? 0) <= now;
    let best: (LiveNode & { load: number }) | undefined;
    for (const node of this.#nodes.values()) {
      if (node.id === self || node.draining || node.readyAt > now) continue;
      if (best === undefined || node.load < best.load) best = node;
    }
    if (best === undefined || (selfReady && best.load >= rooms)) return undefined;
    best.load++;
    return best;
  }
}
