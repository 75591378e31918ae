/**
 * The test kit: run any Jamsocket service — a TypeScript class or factory, or a WASM module — in
 * the test's own process, without sockets, on a virtual clock. Works with `Deno.test` and with
 * `node:test`.
 *
 * @example Test the chat example's nicknames
 * ```ts
 * import assert from "node:assert/strict";
 * import { TestRoom } from "./mod.ts";
 * import { ChatServer } from "../examples/chat.ts";
 *
 * await using room = new TestRoom(ChatServer);
 * const ann = await room.connect();
 * const bob = await room.connect();
 * ann.send("/nick ann");
 * ann.send("hi");
 * await room.settled();
 * assert.deepEqual(bob.take(), [
 *   "Welcome! Your name is client2. Send /nick <name> to change.",
 *   "client2 has joined the chat",
 *   "client1 is now known as ann",
 *   "ann: hi",
 * ]);
 * ```
 *
 * @module
 */

export {
  type ConnectOptions,
  ConnectRefusedError,
  TestRoom,
  type TestRoomOptions,
} from "./test_room.ts";
export { type CloseInfo, FakeClient, FakeSocket, type Frame } from "./fake_client.ts";
export type { ClientSocket } from "../room/client_socket.ts";
export type { Clock, TimerHandle } from "../util/clock.ts";
export { VIRTUAL_EPOCH_MS, VirtualClock } from "./virtual_clock.ts";
export type { RoomEnvironment } from "../room/room_engine.ts";
export {
  loadRecording,
  replay,
  type ReplayDifference,
  type ReplayResult,
} from "../recording/replay.ts";
export {
  type EnvironmentEntry,
  type InputEntry,
  type OutputEntry,
  type ParsedRecording,
  parseRecording,
  type RecordEntry,
  RecordingFormatError,
  type RecordingHeader,
} from "../recording/record_format.ts";
