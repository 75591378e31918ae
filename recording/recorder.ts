/**
 * Recording rooms: every input a room's service receives, every clock reading and random byte a
 * WASM guest takes, and every output it produces, written to an append-only JSON Lines file per
 * room (see `record_format.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { type RoomEngineFactory, SYSTEM_ENVIRONMENT } from "../room/room_engine.ts";
import { type Clock, SYSTEM_CLOCK } from "../util/clock.ts";
import { describeError, type Logger } from "../util/logger.ts";
import { type RecordingHeader, toBase64 } from "./record_format.ts";
import { RecordingEngine, RoomRecording } from "./room_recording.ts";

/** Options of {@linkcode Recorder}. */
export interface RecordOptions {
  /** The folder the recordings go to (created if missing). */
  readonly dir: string;
  /**
   * Most bytes one room's recording may take; at the limit it ends with `["end",t,"size limit"]`
   * and the room goes on unrecorded.
   * @default {16777216}
   */
  readonly maxBytesPerRoom?: number;
  /**
   * Most recordings kept in `dir`; starting one more deletes the oldest finished one.
   * @default {1000}
   */
  readonly maxFiles?: number;
}

/** What a recording's header says of the service. */
export interface RecordedService {
  /** The service's name. */
  readonly service: string;
  /** For WASM: `sha256:<hex>` of the module. */
  readonly module?: string;
  /** For metered WASM: the fuel one event may use, and the CPU limit in seconds it stands for. */
  readonly fuelPerEvent?: number;
  /** For metered WASM: the CPU limit in seconds. */
  readonly cpuLimit?: number;
}

/**
 * How often every recording's unflushed bytes are written out, in ms. Each write of a room opens,
 * appends and closes its file (12–18 µs of CPU on the EPYC): at 100 ms, 100 busy rooms paid 0.43
 * µs per echoed message for it, a fifth of what recording costs. A server killed with SIGKILL loses
 * at most this much of each recording; SIGTERM, a room's end and its crash write everything.
 *
 * @example
 * ```ts
 * import { FLUSH_MS } from "./recorder.ts";
 *
 * await new Promise((resolve) => setTimeout(resolve, FLUSH_MS + 100)); // a flush has run
 * ```
 */
export const FLUSH_MS = 250;

/**
 * Writes one recording per room into a folder, bounded per room and in file count, flushed
 * about every {@linkcode FLUSH_MS} (250 ms), so that the hot path only formats a line into bytes.
 *
 * @example
 * ```ts ignore
 * const recorder = new Recorder({ dir: "./recordings" }, logger);
 * const engineFactory = recorder.wrap(runtime.engineFactory, { service: "counter.wasm" });
 * ```
 */
export class Recorder {
  readonly #options: Required<RecordOptions>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  /** Finished recordings, oldest first (deleted first when there are too many). */
  readonly #finished: string[];
  readonly #open = new Set<RoomRecording>();
  #count: number;
  #sequence = 0;
  #flusher: ReturnType<typeof setInterval> | undefined;

  /** Record into `options.dir` (created if missing; the recordings already there count). */
  constructor(options: RecordOptions, logger: Logger, clock: Clock = SYSTEM_CLOCK) {
    Deno.mkdirSync(options.dir, { recursive: true });
    const existing: { path: string; mtime: number }[] = [];
    for (const entry of Deno.readDirSync(options.dir)) {
      if (!entry.isFile || !entry.name.endsWith(".jsonl")) continue;
      const path = join(options.dir, entry.name);
      existing.push({ path, mtime: Deno.statSync(path).mtime?.getTime() ?? 0 });
    }
    existing.sort((a, b) => a.mtime - b.mtime);
    this.#options = {
      dir: options.dir,
      maxBytesPerRoom: options.maxBytesPerRoom ?? 16 * 1024 * 1024,
      maxFiles: options.maxFiles ?? 1000,
    };
    this.#logger = logger;
    this.#finished = existing.map((e) => e.path);
    this.#count = existing.length;
    this.#clock = clock;
  }

  /** Wrap an engine factory so that every room it starts is recorded as rooms of `service`. */
  wrap(inner: RoomEngineFactory, service: RecordedService): RoomEngineFactory {
    return (roomId, output, environment = SYSTEM_ENVIRONMENT, restore) => {
      const recording = this.#start(roomId, service);
      if (recording === undefined) return inner(roomId, output, environment, restore);
      const engine = inner(roomId, {
        send(recipient, payload) {
          recording.output(recipient, payload);
          output.send(recipient, payload);
        },
        closeClient(client, code, reason) {
          recording.closeClient(client, code, reason);
          output.closeClient(client, code, reason);
        },
        setTimer(ms) {
          recording.setTimer(ms);
          output.setTimer(ms);
        },
        crash(error) {
          recording.crash(error);
          output.crash(error);
        },
      }, {
        clock(id) {
          const nanoseconds = environment.clock(id);
          recording.entry(`["clock",${recording.time()},${id},"${nanoseconds}"]`);
          return nanoseconds;
        },
        random(bytes) {
          environment.random(bytes);
          recording.entry(`["random",${recording.time()},"${toBase64(bytes)}"]`);
        },
      }, restore);
      return new RecordingEngine(engine, recording);
    };
  }

  /**
   * Delete the oldest finished recordings until at most `keep` are in the folder (synchronously,
   * as writes are: see `RoomRecording.flush`; one already gone is skipped).
   */
  #rotate(keep: number): void {
    while (this.#count > keep && this.#finished.length > 0) {
      try {
        Deno.removeSync(this.#finished.shift()!);
      } catch {
        // deleted by someone else
      }
      this.#count--;
    }
  }

  /** Write out and end every open recording. */
  close(): void {
    clearInterval(this.#flusher);
    this.#flusher = undefined;
    for (const recording of [...this.#open]) recording.end("server stopped");
  }

  #start(roomId: string, service: RecordedService): RoomRecording | undefined {
    this.#rotate(this.#options.maxFiles - 1);
    const started = new Date();
    const name = `${fileSafe(roomId)}.${started.toISOString().replace(/[:.]/g, "-")}.${this
      .#sequence++}.jsonl`;
    const path = join(this.#options.dir, name);
    this.#count++;
    const header: RecordingHeader = {
      jamsocketRecording: 1,
      room: roomId,
      service: service.service,
      ...(service.module ? { module: service.module } : {}),
      ...(service.fuelPerEvent
        ? { fuelPerEvent: service.fuelPerEvent, cpuLimit: service.cpuLimit }
        : {}),
      started: started.toISOString(),
    };
    const recording = new RoomRecording(path, header, this.#options.maxBytesPerRoom, this.#clock, {
      failed: (error) =>
        this.#logger.error(
          `Recording of room "${roomId}" at ${path} stopped: ${describeError(error)}`,
        ),
      closed: () => {
        this.#finished.push(path);
        this.#rotate(this.#options.maxFiles);
        this.#open.delete(recording);
        if (this.#open.size === 0) {
          clearInterval(this.#flusher);
          this.#flusher = undefined;
        }
      },
    });
    this.#open.add(recording);
    this.#flusher ??= setInterval(() => {
      for (const open of this.#open) open.flush();
    }, FLUSH_MS);
    return recording;
  }
}

/** A room id as part of a file name: percent-encoded, at most 80 characters. */
function fileSafe(roomId: string): string {
  const encoded = encodeURIComponent(roomId).replace(/\./g, "%2E");
  return encoded.length <= 80 ? encoded : encoded.slice(0, 80);
}
