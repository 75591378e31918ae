/**
 * A node's links to its peers: a listener for the ones they open, and one connection per peer,
 * opened on first use and reused both ways.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { type LinkHost, type LinkOptions, NodeLink } from "./node_link.ts";

/** What the pool needs from its node (a {@linkcode LinkHost} without `closed`). */
export type LinkPoolHost = Omit<LinkHost, "closed">;

/**
 * Links to peer nodes, by peer id. A peer that opened a link to this node is reached over that
 * same link, so a pair of nodes shares one connection (two, briefly, if both open at once).
 *
 * @example
 * ```ts ignore
 * const pool = new LinkPool(host, logger);
 * const address = await pool.listen("127.0.0.1:0");
 * const link = await pool.get(peerId, peerAddress);
 * ```
 */
export class LinkPool {
  readonly #host: LinkHost;
  readonly #logger: Logger;
  readonly #links = new Map<string, NodeLink>();
  readonly #all = new Set<NodeLink>();
  readonly #connecting = new Map<string, Promise<NodeLink>>();
  readonly #options: LinkOptions;
  #listener: Deno.Listener | undefined;
  #closed = false;

  /** A pool for a node; `host` answers the peers' joins and requests. */
  constructor(host: LinkPoolHost, logger: Logger, options: LinkOptions = {}) {
    this.#logger = logger;
    this.#options = options;
    this.#host = {
      get nodeId() {
        return host.nodeId;
      },
      isLiveNode: (id) => host.isLiveNode(id),
      join: (...args) => host.join(...args),
      rejoin: (...args) => host.rejoin?.(...args),
      request: (body) => host.request(body),
      closed: (link) => this.#forget(link),
    };
  }

  /** Listen on `address` (`host:port`, port 0 for a free one); resolves with the real address. */
  listen(address: string): string {
    const colon = address.lastIndexOf(":");
    const hostname = address.slice(0, colon).replace(/^\[|\]$/g, "");
    const listener = Deno.listen({ hostname, port: Number(address.slice(colon + 1)) });
    this.#listener = listener;
    void this.#accept(listener);
    const port = (listener.addr as Deno.NetAddr).port;
    return `${address.slice(0, colon)}:${port}`;
  }

  /** Links open now. */
  get size(): number {
    return this.#all.size;
  }

  /** The link to `peer` (at `address`), opening it if need be. */
  get(peer: string, address: string): Promise<NodeLink> {
    const link = this.#links.get(peer);
    if (link !== undefined && !link.closed) return Promise.resolve(link);
    let connecting = this.#connecting.get(peer);
    if (connecting === undefined) {
      connecting = NodeLink.connect(address, peer, this.#host, this.#logger, this.#options).then(
        (link) => {
          this.#add(link);
          return link;
        },
      ).finally(() => this.#connecting.delete(peer));
      this.#connecting.set(peer, connecting);
    }
    return connecting;
  }

  /** Close every link to nodes not in `live` (they lost their lease). */
  retain(live: ReadonlySet<string>): void {
    for (const link of this.#all) {
      if (link.peer !== "" && !live.has(link.peer)) {
        this.#logger.warn(`Cluster: node ${link.peer} is gone; closing its link`);
        link.close();
      }
    }
  }

  /** Every link open now. */
  links(): IterableIterator<NodeLink> {
    return this.#all.values();
  }

  /** Close every link (this node fenced itself, or stops); forwarded clients get `reason`. */
  closeLinks(reason?: string): void {
    for (const link of [...this.#all]) link.close(reason);
  }

  /** Stop listening and close every link. */
  close(reason?: string): void {
    this.#closed = true;
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    this.closeLinks(reason);
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    try {
      for await (const conn of listener) {
        NodeLink.accept(conn, this.#host, this.#logger, this.#options).then(
          (link) => this.#closed ? link.close() : this.#add(link),
          (error) => this.#logger.warn(`Cluster: refused a link: ${describeError(error)}`),
        );
      }
    } catch (error) {
      if (!this.#closed) {
        this.#logger.error(`Cluster: link listener failed: ${describeError(error)}`);
      }
    }
  }

  #add(link: NodeLink): void {
    if (link.closed) return;
    this.#all.add(link);
    const current = this.#links.get(link.peer);
    if (current === undefined || current.closed) this.#links.set(link.peer, link);
  }

  #forget(link: NodeLink): void {
    this.#all.delete(link);
    if (this.#links.get(link.peer) === link) {
      this.#links.delete(link.peer);
      for (const other of this.#all) {
        if (other.peer === link.peer) {
          this.#links.set(other.peer, other);
          break;
        }
      }
    }
  }
}
