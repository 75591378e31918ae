/**
 * A room whose service runs in a room host process.
 *
 * @module
 */

import type { RoomCrashError, RoomEngine, RoomOutput } from "../room/room_engine.ts";
import type { ClientId } from "../service.ts";
import { Frame, type FrameType } from "./protocol.ts";

/** What a {@linkcode RemoteEngine} needs from the host connection it lives on. */
export interface HostLink {
  /** Queue a frame for the host. */
  send(type: FrameType, room: Uint8Array, value?: number, payload?: string | Uint8Array): void;
  /** The encoded room field of one incarnation of a room, for frames. */
  roomKey(roomId: string, incarnation: number): Uint8Array;
  /** The room's incarnation is gone from this host. */
  release(incarnation: number): void;
  /** Bytes queued for the host and not yet written to it (the host is busy or slow). */
  readonly queuedBytes: number;
}

/**
 * Forwards one incarnation of a room's events to its host as frames, in order; the host runs
 * them one at a time and answers with sends, timer requests and crashes, which the host
 * connection hands to {@linkcode RemoteEngine.output} once it has checked they are for this
 * incarnation (not for an earlier room of the same id).
 *
 * @example
 * ```ts ignore
 * const engine = new RemoteEngine("lobby", 1, output, link);
 * engine.message(1, "increment");
 * ```
 */
export class RemoteEngine implements RoomEngine {
  /** The room's id. */
  readonly roomId: string;
  /** The number naming this room among every room of the same id (see `protocol.ts`). */
  readonly incarnation: number;
  /** The room field of its frames. */
  readonly key: Uint8Array;
  /** Where the host's answers for this room go. */
  readonly output: RoomOutput;
  readonly #link: HostLink;
  #closed: PromiseWithResolvers<void> | undefined;
  #gone = false;

  /** Open the room on the host behind `link`. */
  constructor(roomId: string, incarnation: number, output: RoomOutput, link: HostLink) {
    this.roomId = roomId;
    this.incarnation = incarnation;
    this.output = output;
    this.#link = link;
    this.key = link.roomKey(roomId, incarnation);
    link.send(Frame.Open, this.key);
  }

  /** Events are counted by the host pool, not per room. */
  get pending(): number {
    return 0;
  }

  /** What waits for this room's host, all its rooms together: a busy host holds up each. */
  get queuedBytes(): number {
    return this.#link.queuedBytes;
  }

  /** `close()` was called and the host has not confirmed it yet. */
  get closing(): boolean {
    return this.#closed !== undefined && !this.#gone;
  }

  connect(client: ClientId): void {
    if (!this.#gone) this.#link.send(Frame.Connect, this.key, client);
  }

  disconnect(client: ClientId): void {
    if (!this.#gone) this.#link.send(Frame.Disconnect, this.key, client);
  }

  message(client: ClientId, text: string): void {
    if (!this.#gone) this.#link.send(Frame.Text, this.key, client, text);
  }

  binary(client: ClientId, bytes: Uint8Array): void {
    if (!this.#gone) this.#link.send(Frame.Binary, this.key, client, bytes);
  }

  timer(): void {
    if (!this.#gone) this.#link.send(Frame.Timer, this.key);
  }

  /** Ask the host to drop the room; resolves when it has (or when the host is gone). */
  close(): Promise<void> {
    if (this.#closed) return this.#closed.promise;
    this.#closed = Promise.withResolvers();
    if (this.#gone) this.#closed.resolve();
    else this.#link.send(Frame.Close, this.key);
    return this.#closed.promise;
  }

  /** The host confirmed the room is closed. */
  closed(): void {
    if (!this.#gone) this.#finish();
  }

  /** The room crashed on its host, or its host was stopped. */
  crashed(error: RoomCrashError): void {
    if (this.#gone) return;
    this.#finish();
    this.output.crash(error);
  }

  #finish(): void {
    this.#link.release(this.incarnation);
    this.#gone = true;
    this.#closed?.resolve();
  }
}
