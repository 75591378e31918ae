/**
 * A room host: a child process that runs many rooms' WASM instances, driven by the front with
 * the protocol in `protocol.ts` over the Unix socket whose path is its one argument. It needs no
 * permission but that socket: the module arrives over it, and everything it says goes back over
 * it. It exits 0 when the front closes the socket; anything fatal (the module does not load, a
 * malformed frame, the socket fails) is one line on stderr and exit code 1.
 *
 * ```sh
 * deno run --no-config --allow-read=/tmp/s.sock --allow-write=/tmp/s.sock room_host/host_main.ts /tmp/s.sock
 * ```
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { RoomCrashError } from "../room/room_engine.ts";
import {
  type GuestConfig,
  GuestInstance,
  type GuestMetering,
  type GuestOutput,
} from "../wasm/guest_instance.ts";
import { loadWasmService } from "../wasm/host.ts";
import { WasmMemoryBudget } from "../wasm/memory_budget.ts";
import {
  Frame,
  type FrameCursor,
  frameName,
  FrameReader,
  FrameWriter,
  PROGRESS_INTERVAL_MS,
} from "./protocol.ts";

/**
 * Rooms dropped (closed or crashed) between two forced garbage collections. V8 frees a dead
 * WebAssembly instance only at a full collection, which it starts lazily: without these, a
 * host that churned 30,000 rooms had grown from 45 to 157 MB of RSS, and kept growing; with
 * them it stays near 64 MB (`bench/host_memory.ts`). One collection takes some 30 to 60 ms
 * (more with thousands of rooms open), during which the host's rooms wait.
 */
export const GC_EVERY_ROOMS = 1000;

/**
 * The most a guest may send in one event, in bytes. A host queues what its guests send until the
 * event ends (then the front delivers it), so without a bound one event could fill the host's
 * memory: a guest sending 1 MiB messages in a loop grew its host to 2 GB in 5 s. Past it, the room
 * crashes (`output_limit`), not the host.
 */
export const MAX_EVENT_OUTPUT = 64 * 1024 * 1024;

/** Options the front sends with LOAD. */
export interface HostLoadOptions {
  name: string;
  maxMemoryPages: number;
  args: string[];
  env: Record<string, string>;
  metering: boolean;
  /** The front's fuel budgets (its calibration), so that every host stops guests alike. */
  limits?: Omit<GuestMetering, "memoryBudget" | "slicing">;
  /** This host's share of the server-wide WASM memory budget, in bytes. */
  memoryBudget?: number;
}

/** One incarnation of a room on this host. */
interface HostedRoom {
  /** Its room field (incarnation and id), as frames carry it. */
  readonly key: Uint8Array;
  readonly guest: GuestInstance;
}

/**
 * Serve the protocol on `input`/`output` until `input` ends (or the front resets the
 * connection). Rejects, after answering FAILED, when the module does not load, and on a
 * malformed frame.
 *
 * @example
 * ```ts ignore
 * const conn = await Deno.connect({ transport: "unix", path });
 * await runRoomHost(conn.readable, conn);
 * ```
 */
export async function runRoomHost(
  input: ReadableStream<Uint8Array>,
  output: { write(bytes: Uint8Array): Promise<number> },
): Promise<void> {
  const reader = new FrameReader();
  const out = new FrameWriter();
  /** Open rooms by incarnation. */
  const rooms = new Map<number, HostedRoom>();
  const logger: Logger = {
    debug: (line) => out.log(0, line),
    info: (line) => out.log(1, line),
    warn: (line) => out.log(2, line),
    error: (line) => out.log(3, line),
  };
  let config: GuestConfig | undefined;
  /** Where `out` stood when the event being handled began. */
  let eventStart = 0;
  let handled = 0;
  let reportedAt = 0;
  let dropped = 0;

  /** Forget a room's instance. */
  const drop = (incarnation: number) => {
    rooms.delete(incarnation);
    dropped++;
  };

  /** Write DONE and everything queued before it. */
  const report = async () => {
    out.count(Frame.Done, handled);
    const bytes = out.take();
    for (let at = 0; at < bytes.length;) at += await output.write(bytes.subarray(at));
    reportedAt = performance.now();
  };

  /** Answer CRASHED for the room whose field is `key`. */
  const crashFrame = (key: Uint8Array, error: unknown) => {
    const crash = error instanceof RoomCrashError
      ? error
      : new RoomCrashError("trap", `Room host error: ${describeError(error)}`);
    out.roomEvent(Frame.Crashed, key, undefined, `${crash.kind} ${crash.message}`);
  };

  /** Throw (into the guest, crashing its room) if `bytes` more would pass the event's bound. */
  const checkOutput = (bytes: number) => {
    if (out.length - eventStart + bytes <= MAX_EVENT_OUTPUT) return;
    throw new RoomCrashError(
      "output_limit",
      `The guest sent more than ${MAX_EVENT_OUTPUT} bytes in one event`,
    );
  };

  const guestOutput = (key: Uint8Array): GuestOutput => ({
    sendText: (recipient, utf8) => {
      checkOutput(utf8.length);
      out.roomEvent(Frame.SendText, key, recipient, utf8);
    },
    sendBinary: (recipient, bytes) => {
      checkOutput(bytes.length);
      out.roomEvent(Frame.SendBinary, key, recipient, bytes);
    },
    setTimer: (ms) => out.roomEvent(Frame.SetTimer, key, ms),
  });

  const load = async (frame: FrameCursor) => {
    const options = JSON.parse(frame.prefixedText()) as HostLoadOptions;
    try {
      const service = await loadWasmService(frame.rest().slice(), { ...options, logger });
      const memoryBudget = options.memoryBudget === undefined
        ? undefined
        : new WasmMemoryBudget(options.memoryBudget);
      config = service.guestConfig(
        options.limits ? { ...options.limits, slicing: false, memoryBudget } : { timeSlice: 0 },
      );
      out.empty(Frame.Ready);
    } catch (error) {
      const message = describeError(error);
      out.strings(Frame.Failed, message);
      await report();
      throw new Error(`Cannot load the module: ${message}`, { cause: error });
    }
  };

  const open = (frame: FrameCursor, incarnation: number) => {
    if (config === undefined) throw new Error("Room host protocol: OPEN before LOAD");
    if (rooms.has(incarnation)) {
      throw new Error(`Room host protocol: incarnation ${incarnation} opened twice`);
    }
    const key = frame.roomKey();
    eventStart = out.length;
    try {
      rooms.set(incarnation, {
        key,
        guest: new GuestInstance(config, frame.roomId, guestOutput(key)),
      });
    } catch (error) {
      crashFrame(key, error);
    }
  };

  const handle = (frame: FrameCursor) => {
    const incarnation = frame.room();
    if (frame.type === Frame.Open) return open(frame, incarnation);
    const room = rooms.get(incarnation);
    if (room === undefined || !frame.isRoom(room.key)) {
      // The room crashed here before the front heard of it, or this is a stale frame.
      if (frame.type === Frame.Close) out.roomEvent(Frame.Closed, frame.roomKey());
      else {
        logger.debug(
          `Room host dropped ${
            frameName(frame.type)
          } for room "${frame.roomId}" (incarnation ${incarnation}): not open`,
        );
      }
      return;
    }
    const guest = room.guest;
    eventStart = out.length;
    try {
      switch (frame.type) {
        case Frame.Connect:
          return guest.connect(frame.u32());
        case Frame.Disconnect:
          return guest.disconnect(frame.u32());
        case Frame.Text:
          return guest.messageUtf8(frame.u32(), frame.rest());
        case Frame.Binary:
          return guest.binary(frame.u32(), frame.rest());
        case Frame.Timer:
          return guest.timer();
        case Frame.Close:
          drop(incarnation);
          guest[Symbol.dispose]();
          return out.roomEvent(Frame.Closed, room.key);
        default:
          throw new Error(`Room host protocol: unexpected ${frameName(frame.type)} frame`);
      }
    } catch (error) {
      drop(incarnation);
      crashFrame(room.key, error);
    }
  };

  try {
    for await (const chunk of input) {
      reportedAt = performance.now();
      for (const frame of reader.push(chunk)) {
        // A long chunk of short events reports progress as it goes, so that the front's
        // watchdog times each event, not the chunk.
        if (performance.now() - reportedAt >= PROGRESS_INTERVAL_MS) await report();
        if (frame.type === Frame.Load) await load(frame);
        else handle(frame);
        handled++;
      }
      await report();
      if (dropped >= GC_EVERY_ROOMS) {
        const before = Deno.memoryUsage().rss;
        await collectGarbage();
        logger.debug(
          `Room host collected garbage after ${dropped} rooms closed: RSS ${mib(before)} → ${
            mib(Deno.memoryUsage().rss)
          } MiB`,
        );
        dropped = 0;
        await report();
      }
    }
  } catch (error) {
    // The front closed its end with bytes unread, or went away: the same as the end of input.
    if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe) {
      return;
    }
    throw error;
  }
}

let gc: (() => void) | undefined;

/** A full garbage collection, through V8's `gc` (exposed at the first call). */
async function collectGarbage(): Promise<void> {
  if (gc === undefined) {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/**
 * Connect to the front's socket at `socketPath` and serve it until it closes.
 *
 * @example
 * ```ts ignore
 * await connectRoomHost(Deno.args[0]);
 * ```
 */
export async function connectRoomHost(socketPath: string): Promise<void> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  try {
    await runRoomHost(conn.readable, conn);
  } catch (error) {
    // The front closed the socket while frames were on their way: it is stopping this host.
    const gone = error instanceof Deno.errors.BrokenPipe ||
      error instanceof Deno.errors.ConnectionReset;
    if (!gone) throw error;
  }
}

if (import.meta.main) {
  try {
    await connectRoomHost(Deno.args[0]);
  } catch (error) {
    const plain = error instanceof Error && error.name === "Error";
    console.error(`error: ${plain ? error.message : describeError(error)}`);
    Deno.exit(1);
  }
}
