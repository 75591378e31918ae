/**
 * Live moves of rooms between nodes (a drain): the room keeps running on another node with its
 * state, and its clients that reach it through other nodes stay connected.
 *
 * The owner (`moveOut`):
 * 1. pauses the room's events and snapshots it at the pause;
 * 2. sends MOVE to the entry node of each forwarded client, which stops relaying the client's
 *    frames (it holds them), answers MOVING — every frame it sent before has then reached the
 *    room and is held — and rejoins the room at the new owner with the move's token;
 * 3. closes its own clients (1012: their node is going), whose leaving is held too;
 * 4. takes the held events and closes the room here without touching the moved clients' sockets;
 * 5. asks the new owner to adopt the room: snapshot, held events, and the moved clients' ids and
 *    tokens.
 *
 * The new owner (`adopt`) takes the ownership over in the coordinator (a new fencing token, only
 * if the old owner still held it with its own), restores the room from the snapshot with the moved
 * clients in it (their sends queue until they are back), runs the held events in order, and takes
 * each client back when its entry node rejoins (`rejoin`), sending what queued first; the entry
 * node then sends what the client sent meanwhile. Nothing is lost and the order holds: on each
 * link frames keep their order, and each side waits for the other at the one point where two
 * links meet.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { CloseCode } from "../room/close_code.ts";
import type { Room } from "../room/room.ts";
import type { RoomEvent, RoomSnapshot } from "../room/room_snapshot.ts";
import { encodeSnapshot } from "../snapshot/snapshot_format.ts";
import { describeError } from "../util/logger.ts";
import { withDeadline } from "./_deadline.ts";
import { DRAIN_REASON } from "./drain.ts";
import type { NodeParts } from "./_node_parts.ts";
import { ForwardedSocket } from "./forwarded_socket.ts";
import { LinkFrame } from "./link_protocol.ts";
import { MovingSocket } from "./moving_socket.ts";
import type { NodeLink } from "./node_link.ts";

/** How long an entry node may take to answer MOVING, and a moved client to rejoin. */
const MOVE_MS = 3000;

/** What moves need from the server around the node (its persistence of rooms). */
export interface RoomStateHooks {
  /**
   * Decode a snapshot of room `roomId` taken on another node and check it can restore here.
   *
   * @throws {Error} with the one-line reason it cannot.
   */
  check(roomId: string, bytes: Uint8Array): RoomSnapshot;
  /** A room moved in: save it now (its snapshot then carries this node's fencing token). */
  saved(room: Room): void;
  /** A room leaves with its state (it moved, or its snapshot was stored): keep it stored. */
  keep(room: Room): void;
  /** Store an encoded snapshot (when a move failed half-way). */
  store(roomId: string, bytes: Uint8Array): Promise<unknown>;
}

/** The adopt request, as JSON over a link. */
interface AdoptRequest {
  readonly op: "adopt";
  readonly room: string;
  readonly from: string;
  readonly fence: number;
  /** The snapshot, base64. */
  readonly snapshot: string;
  /** The held events; binary payloads base64. */
  readonly held: readonly unknown[];
  /** Moved clients: [client id, move token]. */
  readonly moving: readonly (readonly [number, string])[];
}

/** A rejoin that came before its room. */
interface Parked {
  readonly link: NodeLink;
  readonly channel: number;
  readonly room: string;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The moves of one node: out of it when it drains, into it when another node drains.
 *
 * @example
 * ```ts ignore
 * const moves = new RoomMoves(parts, hooks);
 * const moved = await moves.moveOut(room, targetNodeId); // false: it stays, to be closed
 * ```
 */
export class RoomMoves {
  readonly #parts: NodeParts;
  readonly #hooks: RoomStateHooks;
  /** Moved-in clients waiting for their entry node, by token. */
  readonly #arrivals = new Map<string, { room: string; socket: MovingSocket }>();
  /** Rejoins waiting for their room, by token. */
  readonly #parked = new Map<string, Parked>();

  /** Moves with `parts`, keeping state through `hooks`. */
  constructor(parts: NodeParts, hooks: RoomStateHooks) {
    this.#parts = parts;
    this.#hooks = hooks;
  }

  /**
   * Move `room` to node `target`. Resolves with true once the room has left this node: the
   * target runs it — or, past the point of no return, the move failed: that is logged, the
   * room's state at the pause is stored (when there is a store), and its clients, told to
   * reconnect by the target, find it there. False when it did not start (it cannot be
   * snapshotted, this node does not own it, the target is unreachable): it runs on here.
   */
  async moveOut(room: Room, target: string): Promise<boolean> {
    const parts = this.#parts;
    const engine = room.snapshotEngine;
    const fence = parts.claims.fenceOf(room.id);
    if (engine === undefined || fence === undefined || !room.canSnapshot) return false;
    let link: NodeLink;
    try {
      link = await parts.link(target);
    } catch {
      return false;
    }
    await engine.pause();
    let snapshot: RoomSnapshot;
    try {
      snapshot = await room.snapshot();
    } catch {
      engine.resume();
      return false;
    }
    const moving: [number, string, ForwardedSocket][] = [];
    const local: number[] = [];
    for (const [id, socket] of room.sockets()) {
      if (socket instanceof ForwardedSocket) moving.push([id, crypto.randomUUID(), socket]);
      else local.push(id);
    }
    const answers = await Promise.all(
      moving.map(([, token, socket]) =>
        withDeadline(socket.moveTo(target, token), MOVE_MS, "MOVING").catch(() => false)
      ),
    );
    const moved = moving.filter((_, i) => answers[i]);
    for (const [id] of moving.filter((_, i) => !answers[i])) {
      room.closeClient(id, CloseCode.ServiceRestart, DRAIN_REASON);
    }
    for (const id of local) room.closeClient(id, CloseCode.ServiceRestart, DRAIN_REASON);
    const held = engine.takeHeld();
    // A timer that fired during the pause is in the held events: the snapshot's is spent.
    if (held.some((event) => event.type === "timer")) {
      snapshot = { ...snapshot, timerMs: undefined };
    }
    this.#hooks.keep(room);
    parts.claims.forget(room.id);
    await room.close(CloseCode.ServiceRestart, DRAIN_REASON, false);
    const bytes = encodeSnapshot(snapshot, fence);
    const request: AdoptRequest = {
      op: "adopt",
      room: room.id,
      from: parts.lease.id,
      fence,
      snapshot: Buffer.from(bytes).toString("base64"),
      held: held.map(heldToJson),
      moving: moved.map(([id, token]) => [id, token]),
    };
    const reply = await link.request(request) as { ok?: boolean; status?: number; error?: string };
    if (reply?.ok === true) {
      parts.logger.info(
        `Cluster: room "${room.id}" moved to node ${target} with ${moved.length} clients`,
      );
      return true;
    }
    parts.logger.error(
      `Cluster: room "${room.id}" could not move to node ${target} (${
        reply?.error ?? "no answer"
      }); its state at the pause is stored, ${held.length} events during the move are lost`,
    );
    await this.#hooks.store(room.id, bytes).catch(() => {});
    return true;
  }

  /** A peer hands this node a room (see the module doc); resolves with the reply to send. */
  async adopt(body: unknown): Promise<unknown> {
    const request = body as AdoptRequest;
    const parts = this.#parts;
    try {
      if (parts.draining || !parts.lease.valid()) throw new Error("this node is draining");
      if (parts.registry.has(request.room)) throw new Error("the room is alive here already");
      const snapshot = this.#hooks.check(
        request.room,
        new Uint8Array(Buffer.from(request.snapshot, "base64")),
      );
      const fence = await parts.ask(
        parts.coordinator.transfer(request.room, request.from, request.fence, parts.lease.id),
      );
      if (fence === undefined) throw new Error("the ownership could not be transferred");
      parts.claims.adopt(request.room, fence);
      const room = parts.registry.createMoved(request.room, snapshot);
      for (const [client, token] of request.moving) {
        const socket = new MovingSocket(MOVE_MS);
        room.adopt(client, socket);
        this.#arrivals.set(token, { room: request.room, socket });
        const parked = this.#parked.get(token);
        if (parked !== undefined) {
          clearTimeout(parked.timer);
          this.#parked.delete(token);
          this.rejoin(parked.link, parked.channel, parked.room, token);
        }
      }
      // Forget the tokens of clients that never came back.
      setTimeout(() => {
        for (const [, token] of request.moving) this.#arrivals.delete(token);
      }, MOVE_MS);
      room.replay(request.held.map(heldFromJson));
      this.#hooks.saved(room);
      return { ok: true, fence };
    } catch (error) {
      return { status: 409, error: describeError(error) };
    }
  }

  /** An entry node brings back a client of a room that moved here. */
  rejoin(link: NodeLink, channel: number, room: string, token: string): void {
    const arrival = this.#arrivals.get(token);
    if (arrival === undefined) {
      // The room is not here yet (its adopt request is on another link): wait for it.
      const timer = setTimeout(() => {
        this.#parked.delete(token);
        link.code(LinkFrame.Refused, channel, 503, "The room did not arrive; reconnect");
      }, MOVE_MS);
      this.#parked.set(token, { link, channel, room, timer });
      return;
    }
    this.#arrivals.delete(token);
    if (arrival.room !== room) {
      return link.code(LinkFrame.Refused, channel, 409, "Wrong room for this move");
    }
    const socket = new ForwardedSocket(link, channel);
    link.owned.set(channel, socket);
    socket.opened();
    arrival.socket.attach(socket);
    link.signal(LinkFrame.Joined, channel);
  }
}

function heldToJson(event: RoomEvent): unknown {
  return event.type === "binary"
    ? { ...event, bytes: Buffer.from(event.bytes).toString("base64") }
    : event;
}

function heldFromJson(value: unknown): RoomEvent {
  const event = value as RoomEvent & { bytes?: string };
  if (event.type === "binary") {
    return { ...event, bytes: new Uint8Array(Buffer.from(event.bytes as string, "base64")) };
  }
  return event;
}
