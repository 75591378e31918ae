/**
 * Forwarding clients to the node that owns their room: the entry node's side (find the owner,
 * take a place there before the upgrade, follow a room that moved, wait out an owner that died)
 * and the owner's side (take a forwarded client into the room, creating it if need be).
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import type { ClientData } from "../service.ts";
import { describeError } from "../util/logger.ts";
import type { NodeParts } from "./_node_parts.ts";
import { ForwardedClient, RoomMovedError } from "./forwarded_client.ts";
import { ForwardedSocket } from "./forwarded_socket.ts";
import { LinkFrame } from "./link_protocol.ts";
import type { NodeLink } from "./node_link.ts";
import type { RemoteJoin, RoomRoute } from "./room_placement.ts";

/** Most hops a client follows while a room moves under it. */
const MAX_HOPS = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The forwarding of one node.
 *
 * @example
 * ```ts ignore
 * const forwarding = new Forwarding(parts);
 * const join = await forwarding.route("lobby", ownerId).reserve(data); // entry node
 * forwarding.admit(link, channel, "lobby", true, json);                 // owner node
 * ```
 */
export class Forwarding {
  readonly #parts: NodeParts;

  /** Forwarding with `parts`. */
  constructor(parts: NodeParts) {
    this.#parts = parts;
  }

  /** The route of a client to `roomId` on `owner` (undefined: this node). */
  route(roomId: string, owner: string | undefined): RoomRoute {
    return { reserve: (data) => this.#reserve(roomId, owner, data, 0) };
  }

  /** A peer forwards a client to a room here (or to be created here, with `mayCreate`). */
  admit(
    link: NodeLink,
    channel: number,
    roomId: string,
    mayCreate: boolean,
    data: string | undefined,
  ): void {
    const parts = this.#parts;
    const socket = new ForwardedSocket(link, channel);
    link.owned.set(channel, socket);
    const refuse = (status: number, reason: string) => {
      if (link.owned.get(channel) === socket) link.code(LinkFrame.Refused, channel, status, reason);
    };
    const admit = async () => {
      const registry = parts.registry;
      if (parts.draining || !parts.lease.valid()) {
        throw new HttpError(503, "Node is draining; try again");
      }
      if (!registry.has(roomId)) {
        if (!mayCreate) throw new HttpError(404, `Room "${roomId}" does not exist`);
        registry.checkJoinable(roomId);
        const outcome = await parts.claims.acquire(roomId, "join");
        if (outcome.owner !== undefined) return refuse(0, outcome.owner);
        await parts.prepare(roomId);
      }
      registry.checkJoinable(roomId);
      if (link.owned.get(channel) !== socket) return; // the entry gave up meanwhile
      const room = registry.forConnection(roomId);
      room.accept(socket, data === undefined ? undefined : JSON.parse(data));
      link.signal(LinkFrame.Joined, channel);
    };
    admit().catch((error) => {
      if (error instanceof HttpError) return refuse(error.status, error.message);
      parts.logger.error(
        `Cluster: could not admit a forwarded client to room "${roomId}": ${describeError(error)}`,
      );
      refuse(500, "Internal server error");
    });
  }

  /** Take a place for a client in `roomId` on `owner` (undefined: this node). */
  async #reserve(
    roomId: string,
    owner: string | undefined,
    data: ClientData | undefined,
    hops: number,
  ): Promise<RemoteJoin | undefined> {
    const parts = this.#parts;
    if (hops > MAX_HOPS) throw new HttpError(503, "Room is moving between nodes; try again");
    if (owner === undefined || owner === parts.lease.id) {
      parts.registry.checkJoinable(roomId);
      const outcome = await parts.claims.acquire(roomId, "join");
      if (outcome.owner === undefined) {
        if (!parts.registry.has(roomId)) await parts.prepare(roomId);
        return undefined;
      }
      return await this.#reserve(roomId, outcome.owner, data, hops + 1);
    }
    let link: NodeLink;
    try {
      link = await parts.link(owner);
    } catch (error) {
      parts.logger.warn(
        `Cluster: node ${owner} (room "${roomId}") unreachable: ${describeError(error)}`,
      );
      return await this.#reserve(roomId, await this.#replace(roomId, owner), data, hops + 1);
    }
    try {
      const client = await ForwardedClient.reserve(
        link,
        roomId,
        parts.strategy.implicitCreation,
        data === undefined ? undefined : JSON.stringify(data),
        parts.stats,
        (node) => parts.link(node),
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
    const parts = this.#parts;
    const leaseMs = parts.lease.leaseMs;
    const deadline = performance.now() + leaseMs + 1000;
    while (performance.now() < deadline) {
      await sleep(Math.min(250, leaseMs / 8));
      const owner = await parts.ask(parts.coordinator.lookup(roomId));
      if (owner?.node === unreachable) continue;
      if (owner !== undefined) return owner.node;
      if (!parts.strategy.implicitCreation) {
        throw new HttpError(404, `Room "${roomId}" does not exist`);
      }
      return parts.placeNew();
    }
    throw new HttpError(503, "The room's node is unreachable; try again");
  }
}
