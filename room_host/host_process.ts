/**
 * One room host child process, seen from the front: frames both ways over a Unix domain socket
 * in a private folder, batched.
 *
 * A socket rather than the child's stdin/stdout: Deno serves a child's own stdin and stdout
 * through a blocking thread and wakes the event loop for every read and write, which makes a
 * round trip about twice as slow (measured: 66.8 µs against 31.6 µs,
 * `bench/host_overhead_bench.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { describeError, type Logger } from "../util/logger.ts";
import { type CrashKind, RoomCrashError } from "../room/room_engine.ts";
import { decodeGuestText } from "../wasm/guest_text.ts";
import {
  Frame,
  type FrameCursor,
  frameName,
  FrameReader,
  type FrameType,
  FrameWriter,
} from "./protocol.ts";
import type { HostLink, RemoteEngine } from "./remote_engine.ts";
import type { HostLoadOptions } from "./host_main.ts";

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
const STOP_GRACE_MS = 2000;

/** How to start a host and what to load into it. */
export interface HostProcessConfig {
  /** The command that starts a room host, given the socket path it must connect to. */
  readonly command: (socketPath: string) => string[];
  /** A private folder for the hosts' sockets. */
  readonly socketDir: string;
  /** The LOAD frame's options. */
  readonly load: HostLoadOptions;
  /** The module's bytes. */
  readonly module: Uint8Array;
  /** Where host and guest logs go. */
  readonly logger: Logger;
  /** Called once when the process ends without being asked to. */
  readonly onExit: (host: HostProcess, status: Deno.CommandStatus) => void;
}

/**
 * A running room host. Frames for it are appended to one buffer and written in one chunk per
 * turn of the event loop (or when the previous write completes), so the cost per event stays a
 * few hundred bytes of copying rather than a write each.
 */
export class HostProcess implements HostLink {
  /** A number naming the host in logs. */
  readonly id: number;
  /** The rooms placed on this host, by incarnation, until the host has let go of them. */
  readonly rooms: Map<number, RemoteEngine> = new Map();
  /** When the host last had work outstanding and no progress (ms, `performance.now()`). */
  busySince: number | undefined;
  /** The host has loaded the module (it answered READY). */
  ready = false;
  readonly #config: HostProcessConfig;
  readonly #child: Deno.ChildProcess;
  readonly #connection: Promise<Deno.UnixConn>;
  readonly #out = new FrameWriter();
  #handled = 0;
  /** Rooms asked to close that the host has not confirmed closed. */
  #closing = 0;
  #writing = false;
  /** Bytes of the chunk being written to the host. */
  #inFlight = 0;
  #flushQueued = false;
  #stopping = false;
  /** Resolves when the process has ended. */
  readonly exited: Promise<Deno.CommandStatus>;

  /** Start the process and send it the module; throws when the process cannot be started. */
  constructor(id: number, config: HostProcessConfig) {
    this.id = id;
    this.#config = config;
    const path = join(config.socketDir, `host-${id}.sock`);
    const listener = Deno.listen({ transport: "unix", path });
    const [command, ...args] = config.command(path);
    // Detached: in a session of its own, so the terminal's Ctrl-C (SIGINT to the foreground
    // process group) reaches only the front, which then stops the hosts; a host whose front dies
    // still exits, when its socket closes.
    try {
      this.#child = new Deno.Command(command, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).spawn();
    } catch (error) {
      listener.close();
      Deno.remove(path).catch(() => {});
      throw error;
    }
    this.exited = this.#child.status;
    this.#connection = Promise.race([
      listener.accept(),
      this.exited.then((status) => Promise.reject(new Error(`exited (${describe(status)})`))),
    ]).finally(() => {
      listener.close();
      Deno.remove(path).catch(() => {});
    });
    this.#connection.catch(() => {});
    this.#out.load(config.load, config.module);
    this.#queue();
    void this.#read();
    void this.#readLines(this.#child.stdout, "info");
    void this.#readLines(this.#child.stderr, "error");
    this.exited.then((status) => {
      if (!this.#stopping) config.onExit(this, status);
    });
  }

  /** The process runs and takes rooms (it is not stopping, killed or lost). */
  get alive(): boolean {
    return !this.#stopping;
  }

  /** Frames written and not yet handled by the host. */
  get outstanding(): number {
    return this.#out.frames - this.#handled;
  }

  /** Rooms on this host asked to close that it has not confirmed closed yet. */
  get closingRooms(): number {
    return this.#closing;
  }

  send(type: FrameType, room: Uint8Array, value?: number, payload?: string | Uint8Array): void {
    if (type === Frame.Close) this.#closing++;
    this.#out.roomEvent(type, room, value, payload);
    this.#queue();
  }

  roomKey(roomId: string, incarnation: number): Uint8Array {
    return this.#out.roomKey(roomId, incarnation);
  }

  /** Bytes queued for the host and not yet written. */
  get queuedBytes(): number {
    return this.#out.length + this.#inFlight;
  }

  release(incarnation: number): void {
    const engine = this.rooms.get(incarnation);
    if (engine === undefined) return;
    if (engine.closing) this.#closing--;
    this.rooms.delete(incarnation);
  }

  /** Kill the process now and crash every room on it with `kind` and `reason`. */
  kill(kind: CrashKind, reason: string): void {
    if (this.#stopping) return;
    this.#stopping = true;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    this.#crashAll(kind, reason);
  }

  /** End the process gracefully (its socket closes, the host exits), killing it after a grace period. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#connection.then(closeQuietly, () => {});
    const timer = setTimeout(() => this.kill("host_exit", "Room host stopped"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    this.#crashAll("host_exit", "Room host stopped");
  }

  /** The process ended by itself: crash its rooms. */
  lost(status: Deno.CommandStatus): void {
    this.#stopping = true;
    this.#crashAll("host_exit", `Room host exited unexpectedly (${describe(status)})`);
  }

  #crashAll(kind: CrashKind, reason: string): void {
    for (const engine of [...this.rooms.values()]) {
      engine.crashed(new RoomCrashError(kind, reason));
    }
    this.rooms.clear();
    this.#closing = 0;
  }

  #queue(): void {
    this.busySince ??= performance.now();
    if (this.#flushQueued || this.#writing) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  async #flush(): Promise<void> {
    this.#flushQueued = false;
    this.#writing = true;
    try {
      const conn = await this.#connection;
      while (this.#out.length > 0 && !this.#stopping) {
        const bytes = this.#out.take();
        this.#inFlight = bytes.length;
        for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
        this.#inFlight = 0;
      }
    } catch {
      // the host is gone; its exit is handled by `exited`
    } finally {
      this.#writing = false;
      this.#inFlight = 0;
    }
  }

  async #read(): Promise<void> {
    const reader = new FrameReader();
    try {
      for await (const chunk of (await this.#connection).readable) {
        // Bytes arriving are progress: the host writes only between events, never from one.
        if (this.busySince !== undefined) this.busySince = performance.now();
        try {
          for (const frame of reader.push(chunk)) this.#onFrame(frame);
        } catch (error) {
          return this.#malformed(error);
        }
      }
    } catch {
      // the process ended; `exited` tells how
    }
  }

  /** The host broke the protocol: end it; its exit crashes its rooms and the pool replaces it. */
  #malformed(error: unknown): void {
    if (this.#stopping) return;
    this.#config.logger.error(
      `Room host ${this.id} sent a malformed frame (${describeError(error)}); stopping it`,
    );
    // Replaced as one that failed to start, after a growing delay: it would fail again.
    this.ready = false;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Log what the process prints (it should print nothing: its output is the socket). */
  async #readLines(stream: ReadableStream<Uint8Array>, level: "info" | "error"): Promise<void> {
    let pending = "";
    const log = (line: string) => this.#config.logger[level](`Room host ${this.id}: ${line}`);
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        const parts = (pending + text).split("\n");
        pending = parts.pop()!;
        parts.forEach(log);
      }
    } catch {
      // the process ended
    }
    if (pending) log(pending);
  }

  #onFrame(frame: FrameCursor): void {
    switch (frame.type) {
      case Frame.Done:
        this.#handled = frame.u32();
        this.busySince = this.outstanding > 0 ? performance.now() : undefined;
        return;
      case Frame.Log:
        this.#config.logger[LOG_LEVELS[frame.u8()] ?? "info"](frame.text());
        return;
      case Frame.Ready:
        this.ready = true;
        return;
      case Frame.Failed:
        // The host says why on stderr too, and exits with code 1.
        this.#config.logger.debug(
          `Room host ${this.id} could not load the module: ${frame.text()}`,
        );
        return;
    }
    const incarnation = frame.room();
    const engine = this.rooms.get(incarnation);
    if (engine === undefined || !frame.isRoom(engine.key)) {
      this.#config.logger.debug(
        `Dropped ${
          frameName(frame.type)
        } from room host ${this.id} for room "${frame.roomId}" (incarnation ${incarnation}): that room is closed`,
      );
      return;
    }
    const roomId = engine.roomId;
    switch (frame.type) {
      case Frame.SendText: {
        const recipient = frame.u32();
        const text = decodeGuestText(frame.rest(), roomId, recipient, this.#config.logger);
        if (text !== undefined) engine.output.send(recipient, text);
        return;
      }
      case Frame.SendBinary: {
        const recipient = frame.u32();
        engine.output.send(recipient, frame.rest().slice());
        return;
      }
      case Frame.SetTimer:
        engine.output.setTimer(frame.u32());
        return;
      case Frame.Crashed: {
        const text = frame.text();
        const space = text.indexOf(" ");
        engine.crashed(
          new RoomCrashError(text.slice(0, space) as CrashKind, text.slice(space + 1)),
        );
        return;
      }
      case Frame.Closed:
        engine.closed();
        return;
      default:
        throw new Error(`unexpected ${frameName(frame.type)} frame`);
    }
  }
}

function describe(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

/** Close a connection that may already be closed. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
