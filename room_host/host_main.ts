/**
 * A room host: a child process that runs many rooms' WASM instances, driven by the front with
 * the protocol in `protocol.ts` over the Unix socket whose path is its one argument. It needs no
 * permission but that socket: the module arrives over it, and everything it says goes back over
 * it (or to stderr, for fatal errors).
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
import { Frame, type FrameCursor, FrameReader, FrameWriter } from "./protocol.ts";

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

interface HostedRoom {
  key: Uint8Array;
  guest: GuestInstance | undefined;
}

/**
 * Serve the protocol on `input`/`output` until `input` ends, or until the module fails to load
 * (after answering FAILED).
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
  const rooms = new Map<string, HostedRoom>();
  const logger: Logger = {
    debug: (line) => out.log(0, line),
    info: (line) => out.log(1, line),
    warn: (line) => out.log(2, line),
    error: (line) => out.log(3, line),
  };
  let config: GuestConfig | undefined;
  let handled = 0;
  let failed = false;

  const crashed = (roomId: string, room: HostedRoom, error: unknown) => {
    rooms.delete(roomId);
    const crash = error instanceof RoomCrashError
      ? error
      : new RoomCrashError("trap", `Room host error: ${describeError(error)}`);
    out.roomEvent(Frame.Crashed, room.key, undefined, `${crash.kind} ${crash.message}`);
  };

  const guestOutput = (key: Uint8Array): GuestOutput => ({
    sendText: (recipient, utf8) => out.roomEvent(Frame.SendText, key, recipient, utf8),
    sendBinary: (recipient, bytes) => out.roomEvent(Frame.SendBinary, key, recipient, bytes),
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
      out.strings(Frame.Failed, describeError(error));
      failed = true;
    }
  };

  const handle = (frame: FrameCursor) => {
    const roomId = frame.room();
    if (frame.type === Frame.Open) {
      const room: HostedRoom = { key: out.roomKey(roomId), guest: undefined };
      rooms.set(roomId, room);
      try {
        room.guest = new GuestInstance(config!, roomId, guestOutput(room.key));
      } catch (error) {
        crashed(roomId, room, error);
      }
      return;
    }
    const room = rooms.get(roomId);
    if (room?.guest === undefined) {
      if (frame.type === Frame.Close) out.roomEvent(Frame.Closed, out.roomKey(roomId));
      return;
    }
    const guest = room.guest;
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
          rooms.delete(roomId);
          guest[Symbol.dispose]();
          return out.roomEvent(Frame.Closed, room.key);
      }
    } catch (error) {
      crashed(roomId, room, error);
    }
  };

  for await (const chunk of input) {
    for (const frame of reader.push(chunk)) {
      if (frame.type === Frame.Load) await load(frame);
      else if (!failed) handle(frame);
      handled++;
    }
    out.count(Frame.Done, handled);
    const bytes = out.take();
    for (let at = 0; at < bytes.length;) at += await output.write(bytes.subarray(at));
    if (failed) return;
  }
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
  await runRoomHost(conn.readable, conn);
}

if (import.meta.main) await connectRoomHost(Deno.args[0]);
