/**
 * One room's recording: lines formatted on the hot path, buffered in memory and appended to its
 * file in the background (about every 100 ms, opening it only to write); and the engine wrapper
 * that records each event before handing it on.
 *
 * @module
 */

import type { RoomCrashError, RoomEngine } from "../room/room_engine.ts";
import { SnapshotForwarding } from "../room/room_snapshot.ts";
import type { ClientData, ClientId, MessageRecipient } from "../service.ts";
import type { Clock } from "../util/clock.ts";
import { type RecordingHeader, toBase64 } from "./record_format.ts";

/** Unflushed text past which a room's recording is written out at once. */
const FLUSH_BYTES = 64 * 1024;

/**
 * An engine that records each event before handing it on. Snapshots go to the inner engine (a
 * restored room's recording starts at the restore).
 */
export class RecordingEngine extends SnapshotForwarding implements RoomEngine {
  readonly #inner: RoomEngine;
  readonly #recording: RoomRecording;

  constructor(inner: RoomEngine, recording: RoomRecording) {
    super(inner);
    this.#inner = inner;
    this.#recording = recording;
  }

  connect(client: ClientId, data?: ClientData): void {
    this.#recording.connect(client, data);
    this.#inner.connect(client, data);
  }
  disconnect(client: ClientId): void {
    this.#recording.entry(`["disconnect",${this.#recording.time()},${client}]`);
    this.#inner.disconnect(client);
  }
  message(client: ClientId, text: string): void {
    this.#recording.entry(`["text",${this.#recording.time()},${client},${JSON.stringify(text)}]`);
    this.#inner.message(client, text);
  }
  binary(client: ClientId, bytes: Uint8Array): void {
    this.#recording.entry(`["binary",${this.#recording.time()},${client},"${toBase64(bytes)}"]`);
    this.#inner.binary(client, bytes);
  }
  timer(): void {
    this.#recording.entry(`["timer",${this.#recording.time()}]`);
    this.#inner.timer();
  }
  get pending(): number {
    return this.#inner.pending;
  }
  async close(): Promise<void> {
    await this.#inner.close();
    await this.#recording.end("closed");
  }
}

/** What a room's recording tells its recorder. */
export interface RecordingEvents {
  /** Writing failed: the recording stopped. */
  failed(error: unknown): void;
  /** The recording ended and its file is written. */
  closed(): void;
}

/** One room's recording file: lines buffered in memory, appended in the background. */
export class RoomRecording {
  /** Where the recording goes; a file is opened only while a flush writes to it. */
  readonly path: string;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #start: number;
  readonly #events: RecordingEvents;
  #lines: string[] = [];
  #unflushed = 0;
  #size = 0;
  #writing: Promise<void> = Promise.resolve();
  #ended: Promise<void> | undefined;
  #broken = false;
  #created = false;

  /** Record into `path` (which must not exist yet), starting with `header`. */
  constructor(
    path: string,
    header: RecordingHeader,
    maxBytes: number,
    clock: Clock,
    events: RecordingEvents,
  ) {
    this.path = path;
    this.#maxBytes = maxBytes;
    this.#clock = clock;
    this.#start = clock.now();
    this.#events = events;
    this.#push(JSON.stringify(header));
  }

  /** Milliseconds since the room started (the clock's resolution: whole ms for the system's). */
  time(): number {
    return this.#clock.now() - this.#start;
  }

  /** Append one entry (a JSON array, without its newline). */
  entry(line: string): void {
    if (this.#ended !== undefined || this.#broken) return;
    if (this.#size + line.length + 1 > this.#maxBytes) {
      void this.end("size limit");
      return;
    }
    this.#push(line);
  }

  connect(client: ClientId, data: ClientData | undefined): void {
    const extra = data === undefined ? "" : `,${JSON.stringify(data)}`;
    this.entry(`["connect",${this.time()},${client}${extra}]`);
  }

  output(recipient: MessageRecipient, payload: string | Uint8Array): void {
    this.entry(
      typeof payload === "string"
        ? `["out:text",${this.time()},${recipient},${JSON.stringify(payload)}]`
        : `["out:binary",${this.time()},${recipient},"${toBase64(payload)}"]`,
    );
  }

  setTimer(ms: number): void {
    this.entry(`["out:timer",${this.time()},${ms}]`);
  }

  closeClient(client: ClientId, code: number, reason: string): void {
    this.entry(`["out:close",${this.time()},${client},${code},${JSON.stringify(reason)}]`);
  }

  crash(error: RoomCrashError): void {
    this.entry(
      `["out:crash",${this.time()},${JSON.stringify(error.kind)},${JSON.stringify(error.message)}]`,
    );
  }

  /** Write out what is buffered (in the background, in order). */
  flush(): void {
    if (this.#lines.length === 0) return;
    const text = this.#lines.join("");
    this.#lines = [];
    this.#unflushed = 0;
    const bytes = new TextEncoder().encode(text);
    this.#writing = this.#writing.then(async () => {
      // Open, append, close: a room keeps no descriptor between flushes (10,000 recorded rooms
      // must not take 10,000 descriptors from the sockets).
      const first = !this.#created;
      this.#created = true;
      await Deno.writeFile(this.path, bytes, first ? { createNew: true } : { append: true });
    }).catch((error) => {
      if (this.#broken) return;
      this.#broken = true;
      this.#lines = [];
      this.#events.failed(error);
    });
  }

  /** Stop recording: the last line says why; resolves once everything is on disk. */
  end(reason: string): Promise<void> {
    if (this.#ended !== undefined) return this.#ended;
    this.#push(`["end",${this.time()},${JSON.stringify(reason)}]`);
    this.flush();
    this.#ended = this.#writing.then(() => this.#events.closed());
    return this.#ended;
  }

  #push(line: string): void {
    this.#lines.push(line + "\n");
    this.#size += line.length + 1;
    this.#unflushed += line.length + 1;
    if (this.#unflushed >= FLUSH_BYTES) this.flush();
  }
}
