/**
 * A room engine that runs only while its node's lease is proven: every event into the service
 * and every send out of it first checks the lease on the monotonic clock, so a node that resumes
 * from a pause past its lease fences itself before its rooms handle or send anything.
 *
 * @module
 */

import type { RoomEngine, RoomEngineFactory, RoomOutput } from "../room/room_engine.ts";
import { SnapshotForwarding } from "../room/room_snapshot.ts";
import type { ClientData, ClientId, MessageRecipient } from "../service.ts";

/** What a fenced engine checks: the lease is proven now (a lapse fences the node on the spot). */
export interface LeaseCheck {
  valid(): boolean;
}

/**
 * Wrap `engines` so each room's events and sends pass {@linkcode LeaseCheck.valid} first;
 * `onClosed` runs once a room's engine has finished its last event.
 *
 * @example
 * ```ts ignore
 * const engines = fencedEngines(runtime.engineFactory, lease, (room) => release(room));
 * ```
 */
export function fencedEngines(
  engines: RoomEngineFactory,
  lease: LeaseCheck,
  onClosed: (roomId: string) => void,
): RoomEngineFactory {
  return (roomId, output, environment, restore) => {
    const fencedOutput: RoomOutput = {
      send(recipient: MessageRecipient, payload: string | Uint8Array) {
        if (lease.valid()) output.send(recipient, payload);
      },
      closeClient: (client, code, reason) => output.closeClient(client, code, reason),
      setTimer: (ms) => output.setTimer(ms),
      crash: (error) => output.crash(error),
    };
    return new FencedEngine(
      engines(roomId, fencedOutput, environment, restore),
      lease,
      () => onClosed(roomId),
    );
  };
}

/** Events pass the lease check; snapshots go to the inner engine (saves carry the fence). */
class FencedEngine extends SnapshotForwarding implements RoomEngine {
  readonly #inner: RoomEngine;
  readonly #lease: LeaseCheck;
  readonly #onClosed: () => void;

  constructor(inner: RoomEngine, lease: LeaseCheck, onClosed: () => void) {
    super(inner);
    this.#inner = inner;
    this.#lease = lease;
    this.#onClosed = onClosed;
  }

  get pending(): number {
    return this.#inner.pending;
  }

  get queuedBytes(): number {
    return this.#inner.queuedBytes;
  }

  connect(client: ClientId, data?: ClientData): void {
    if (this.#lease.valid()) this.#inner.connect(client, data);
  }

  disconnect(client: ClientId): void {
    if (this.#lease.valid()) this.#inner.disconnect(client);
  }

  message(client: ClientId, text: string): void {
    if (this.#lease.valid()) this.#inner.message(client, text);
  }

  binary(client: ClientId, bytes: Uint8Array): void {
    if (this.#lease.valid()) this.#inner.binary(client, bytes);
  }

  timer(): void {
    if (this.#lease.valid()) this.#inner.timer();
  }

  close(): Promise<void> {
    return this.#inner.close().finally(this.#onClosed);
  }
}
