/**
 * The seam between the upgrade path and a cluster: where a WebSocket to a room goes, asked
 * before the auth hook, and the client's place, taken after it.
 *
 * @module
 */

import type { ClientSocket } from "../room/client_socket.ts";
import type { ClientData } from "../service.ts";

/** Takes an upgraded socket (any {@linkcode ClientSocket}) into a room on another node. Never throws. */
export type RemoteJoin = (socket: ClientSocket) => void;

/**
 * Where rooms live. `locate` runs before the auth hook (and answers 404 for a room that exists
 * nowhere and may not be created); the route's `reserve` runs after it, with the client's data,
 * and answers every refusal (503 full, 404…) before the upgrade, as on a single server.
 *
 * @example
 * ```ts ignore
 * const route = await placement.locate("lobby");          // undefined: a room on this node
 * const join = await route?.reserve(data);               // undefined: this node after all
 * const { socket, response } = Deno.upgradeWebSocket(request);
 * join ? join(socket) : registry.forConnection("lobby").accept(socket, data);
 * ```
 */
export interface RoomPlacement {
  /**
   * Where a WebSocket to `roomId` goes: `undefined` for a room alive on this node (the registry
   * takes the client), or a route to follow once the client is authenticated.
   *
   * @throws {HttpError} 404 (no such room anywhere), 503 (the cluster cannot tell now).
   */
  locate(roomId: string): Promise<RoomRoute | undefined>;
}

/** A room's place, to be reserved once the client is authenticated. */
export interface RoomRoute {
  /**
   * Take a place in the room for a client with `data`: `undefined` when the room is (now) on this
   * node (the registry takes the client), or the function that takes the upgraded socket.
   *
   * @throws {HttpError} what the owner refused with (503 full or busy, 404), or 503.
   */
  reserve(data: ClientData | undefined): Promise<RemoteJoin | undefined>;
}
