/**
 * A node's lease: registered with the coordinator, renewed at a fraction of its length, and
 * checked on the monotonic clock, so that a node that cannot prove its lease fences itself before
 * the lease can run out anywhere else.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { describeError, type Logger } from "../util/logger.ts";
import type { Coordinator, LiveNode, NodeInfo } from "./coordinator.ts";

/** Options of {@linkcode NodeLease}. */
export interface NodeLeaseOptions {
  /** Where the lease is kept. */
  readonly coordinator: Coordinator;
  /** The lease's length in ms: a node that stops renewing is gone this long after. */
  readonly leaseMs: number;
  /** What the node tells about itself at each renewal (its id is added). */
  readonly info: () => Omit<NodeInfo, "id">;
  /** Called with the live nodes after each renewal. */
  readonly onNodes: (nodes: readonly LiveNode[]) => void;
  /**
   * Called once when the lease can no longer be proven (it was lost, or not renewed in time), at
   * once and synchronously: the node must stop serving its rooms now. The lease then registers
   * again under a new id.
   */
  readonly onLapse: (reason: string) => void;
  /** Called each time the node (re)registers, with its new id. */
  readonly onRegistered?: (id: string) => void;
  readonly logger: Logger;
  /** The monotonic clock, in ms. @default {performance.now} */
  readonly now?: () => number;
}

/**
 * A new random node id: 96 bits, hex. It is the node's credential on the links (a peer is
 * accepted only with the id of a live node), so only readers of Redis and of the logs see it;
 * what the HTTP port shows is {@linkcode publicNodeName}.
 */
export function newNodeId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The name `GET /cluster` shows for node `id`: 48 bits of its SHA-256, which tell nodes apart
 * and give nothing of the id away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { publicNodeName } from "./node_lease.ts";
 *
 * assert.match(publicNodeName("0123456789abcdef01234567"), /^[0-9a-f]{12}$/);
 * ```
 */
export function publicNodeName(id: string): string {
  return createHash("sha256").update(`jamsocket node ${id}`).digest("hex").slice(0, 12);
}

/**
 * The lease of one node. Renewal is every quarter of the lease; the lease counts as proven until
 * `t0 + lease − margin`, where `t0` is when the last successful renewal was *sent* (Redis set the
 * expiry later than that) and the margin (a fifth of the lease) covers clock-rate differences and
 * a late timer. Every room event asks {@linkcode NodeLease.valid}; so does a timer at the
 * deadline: a paused process that resumes past its deadline fences itself before it handles
 * anything.
 *
 * @example
 * ```ts ignore
 * const lease = new NodeLease({ coordinator, leaseMs: 3000, info, onNodes, onLapse, logger });
 * lease.start();
 * await lease.registered;
 * if (lease.valid()) serveRoom();
 * ```
 */
export class NodeLease {
  readonly #options: NodeLeaseOptions;
  readonly #now: () => number;
  readonly #renewEveryMs: number;
  readonly #marginMs: number;
  #id = "";
  /** Bumped at each registration; a renewal answer for an older one is ignored. */
  #generation = 0;
  /** The lease is proven until this monotonic time (-Infinity: not held). */
  #deadline = -Infinity;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #failures = 0;
  #registered!: Promise<void>;
  #resolveRegistered!: () => void;

  /** A lease for a node, not yet registered: call {@linkcode NodeLease.start}. */
  constructor(options: NodeLeaseOptions) {
    this.#options = options;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#renewEveryMs = options.leaseMs / 4;
    this.#marginMs = Math.max(50, options.leaseMs / 5);
    this.#resetRegistered();
  }

  /** The node's current id (a new one after each lapse). */
  get id(): string {
    return this.#id;
  }

  /** Resolves once the node holds a lease (again, after a lapse). */
  get registered(): Promise<void> {
    return this.#registered;
  }

  /** The lease's length, in ms. */
  get leaseMs(): number {
    return this.#options.leaseMs;
  }

  /**
   * The lease is proven right now. Past the deadline this lapses the lease on the spot (calling
   * `onLapse` before it returns false).
   */
  valid(): boolean {
    if (this.#now() < this.#deadline) return true;
    if (this.#deadline !== -Infinity) this.#lapse("its lease could not be renewed in time");
    return false;
  }

  /** Register and keep renewing until {@linkcode NodeLease.stop}. */
  start(): void {
    void this.#register();
  }

  /** Renew now, out of turn (to tell the cluster of a change at once, e.g. draining). */
  async renewNow(): Promise<void> {
    await this.#renew();
  }

  /** Stop renewing; with `unregister`, drop the lease so the node's rooms are free at once. */
  async stop(unregister: boolean): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#deadlineTimer);
    const held = this.#deadline !== -Infinity;
    this.#deadline = -Infinity;
    if (unregister && held) {
      try {
        await this.#options.coordinator.unregister(this.#id);
      } catch (error) {
        this.#options.logger.warn(
          `Cluster: node ${this.#id} could not drop its lease (it expires by itself within ${this.leaseMs} ms): ${
            describeError(error)
          }`,
        );
      }
    }
  }

  #resetRegistered(): void {
    this.#registered = new Promise((resolve) => this.#resolveRegistered = resolve);
  }

  async #register(): Promise<void> {
    const { coordinator, logger, leaseMs } = this.#options;
    for (let attempt = 0; !this.#stopped; attempt++) {
      const id = newNodeId();
      const sent = this.#now();
      try {
        await coordinator.register({ id, ...this.#options.info() }, leaseMs);
      } catch (error) {
        if (attempt === 0 || attempt % 20 === 0) {
          logger.warn(`Cluster: could not register this node, retrying: ${describeError(error)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      if (this.#stopped) return;
      this.#id = id;
      this.#generation++;
      this.#failures = 0;
      this.#extend(sent);
      logger.info(`Cluster: node ${id} registered (lease ${leaseMs} ms)`);
      this.#options.onRegistered?.(id);
      this.#resolveRegistered();
      this.#scheduleRenew(sent);
      return;
    }
  }

  #scheduleRenew(from: number): void {
    clearTimeout(this.#renewTimer);
    if (this.#stopped) return;
    const delay = Math.max(0, from + this.#renewEveryMs - this.#now());
    this.#renewTimer = setTimeout(() => void this.#renewLoop(), delay);
  }

  async #renewLoop(): Promise<void> {
    const started = this.#now();
    await this.#renew();
    if (this.#deadline !== -Infinity) this.#scheduleRenew(started);
  }

  async #renew(): Promise<void> {
    const { coordinator, logger, leaseMs } = this.#options;
    if (this.#stopped || this.#deadline === -Infinity) return;
    const generation = this.#generation;
    const sent = this.#now();
    let result;
    try {
      result = await coordinator.renew({ id: this.#id, ...this.#options.info() }, leaseMs);
    } catch (error) {
      if (generation !== this.#generation) return;
      if (this.#failures++ === 0) {
        logger.warn(`Cluster: node ${this.#id} could not renew its lease: ${describeError(error)}`);
      }
      return;
    }
    if (generation !== this.#generation || this.#deadline === -Infinity) return;
    if (!result.renewed) {
      this.#lapse("its lease is gone from the coordinator");
      return;
    }
    if (this.#failures > 0) logger.info(`Cluster: node ${this.#id} renewed its lease again`);
    this.#failures = 0;
    this.#extend(sent);
    if (this.valid()) this.#options.onNodes(result.nodes);
  }

  #extend(sent: number): void {
    this.#deadline = Math.max(this.#deadline, sent + this.#options.leaseMs - this.#marginMs);
    this.#armDeadline();
  }

  /** A timer at the deadline (re-armed if it fires early or the deadline moved). */
  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => {
      if (this.valid()) this.#armDeadline();
    }, Math.max(1, this.#deadline - this.#now() + 1));
  }

  #lapse(reason: string): void {
    if (this.#deadline === -Infinity) return;
    this.#deadline = -Infinity;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#deadlineTimer);
    this.#options.logger.error(`Cluster: node ${this.#id} fenced itself: ${reason}`);
    this.#resetRegistered();
    try {
      this.#options.onLapse(reason);
    } finally {
      if (!this.#stopped) void this.#register();
    }
  }
}
