/**
 * Creating rooms cluster-wide (`POST /ws/{id}`, `POST /new_room`): on the least-loaded node, with
 * an exclusive claim, so an id is unique across the cluster.
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import type { NodeParts } from "./_node_parts.ts";
import type { NodeLink } from "./node_link.ts";

/** What a peer answers a creation request with. */
interface CreateReply {
  readonly id?: string;
  readonly status?: number;
  readonly error?: string;
}

/**
 * The room creation of one node.
 *
 * @example
 * ```ts ignore
 * const creation = new RoomCreation(parts);
 * const id = await creation.create(undefined, ready); // POST /new_room
 * ```
 */
export class RoomCreation {
  readonly #parts: NodeParts;

  /** Room creation with `parts`. */
  constructor(parts: NodeParts) {
    this.#parts = parts;
  }

  /**
   * Create a room (`id` given: `POST /ws/{id}`; none: `POST /new_room`) on the node placement
   * picks; a generated id that is taken is drawn again (5 tries). `ready` resolves once the node
   * may ask the cluster (after the strategy's own refusals). Resolves with the room's id.
   *
   * @throws {HttpError} as on one server (400, 403, 409), or 503.
   */
  async create(id: string | undefined, ready: () => Promise<void>): Promise<string> {
    const { registry, strategy } = this.#parts;
    // The registry refuses what the strategy forbids, with its own words, before anything else.
    if (id === undefined && strategy.generate === undefined) registry.createGenerated();
    if (id !== undefined && !strategy.explicitCreation) registry.createExplicit(id);
    await ready();
    let last: unknown;
    for (let attempt = 0; attempt < (id === undefined ? 5 : 1); attempt++) {
      const room = id ?? strategy.generate!();
      try {
        return await this.#createOn(this.#parts.placeNew(), room, id === undefined);
      } catch (error) {
        last = error;
        if (!(id === undefined && error instanceof HttpError && error.status === 409)) throw error;
      }
    }
    throw last;
  }

  /** Create `room` on this node, for a peer's request; answers the reply it sends back. */
  async answer(room: string, generated: boolean): Promise<CreateReply> {
    try {
      if (this.#parts.draining) throw new HttpError(503, "Node is draining; try again");
      return { id: await this.#createHere(room, generated) };
    } catch (error) {
      if (error instanceof HttpError) return { status: error.status, error: error.message };
      throw error;
    }
  }

  /** Create `room` on `target` (undefined: here). */
  async #createOn(target: string | undefined, room: string, generated: boolean): Promise<string> {
    if (target !== undefined) {
      let link: NodeLink | undefined;
      try {
        link = await this.#parts.link(target);
      } catch {
        // the target went away: a new room may go anywhere, this node included
      }
      if (link !== undefined) {
        let reply: CreateReply;
        try {
          reply = await link.request({ op: "create", room, generated }) as CreateReply;
        } catch (error) {
          throw new HttpError(503, "The room's node did not answer; try again", { cause: error });
        }
        if (reply.id !== undefined) return reply.id;
        if (reply.status === undefined || reply.status === 500) {
          // The peer failed unexpectedly: its words stay in its log and here, not in the answer.
          this.#parts.logger.warn(
            `Cluster: creating room "${room}" on node ${target} failed: ${reply.error}`,
          );
          throw new HttpError(503, "Room creation failed; try again");
        }
        throw new HttpError(reply.status, reply.error ?? "Room creation failed; try again");
      }
    }
    return await this.#createHere(room, generated);
  }

  async #createHere(room: string, generated: boolean): Promise<string> {
    const { registry, claims } = this.#parts;
    const create = () => generated ? registry.createGenerated(room) : registry.createExplicit(room);
    if (registry.has(room)) create(); // throws the registry's 409
    const outcome = await claims.acquire(room, "exclusive");
    if (outcome.owner !== undefined) {
      throw new HttpError(
        409,
        generated ? `Generated room ID "${room}" is taken` : `Room "${room}" already exists`,
      );
    }
    try {
      await this.#parts.prepare(room);
      return create().id;
    } catch (error) {
      claims.abandon(room);
      throw error;
    }
  }
}
