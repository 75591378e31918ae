/**
 * Replaying a recorded room: its inputs, in order, into a fresh instance of a service, and its
 * outputs compared with the recorded ones.
 *
 * @module
 */

import { Metrics } from "../http/metrics.ts";
import { LocalEngine } from "../room/local_engine.ts";
import { type RoomEngine, type RoomEnvironment, SYSTEM_ENVIRONMENT } from "../room/room_engine.ts";
import { createServiceRuntime, type ServiceDefinition } from "../runtime/service_runtime.ts";
import { arrayLogger } from "../util/logger.ts";
import {
  type EnvironmentEntry,
  fromBase64,
  type InputEntry,
  isEnvironment,
  isInput,
  isOutput,
  type OutputEntry,
  type ParsedRecording,
  parseRecording,
  toBase64,
} from "./record_format.ts";

/** Where a replay's outputs first differ from the recording's. */
export interface ReplayDifference {
  /** The position (0-based) of the first output that differs. */
  readonly index: number;
  /** The recorded output there (undefined: the replay produced more). */
  readonly recorded: OutputEntry | undefined;
  /** The replayed output there (undefined: the replay produced fewer). */
  readonly replayed: OutputEntry | undefined;
  /** The line of the last input before that output in the recording (0: none). */
  readonly afterLine: number;
  /** One line that says all of the above. */
  readonly message: string;
}

/** What a replay produced. */
export interface ReplayResult {
  /** Every output of the replay, in order (times are those of the input that led to it). */
  readonly outputs: readonly OutputEntry[];
  /** The outputs of the recording, in order. */
  readonly recorded: readonly OutputEntry[];
  /** Where they first differ, or undefined when they are the same. */
  readonly difference: ReplayDifference | undefined;
  /** The service's log lines during the replay, as `"<level> <line>"`. */
  readonly logs: readonly string[];
  /**
   * Where the replayed guest read its environment differently from the recording (a clock where
   * it read randomness, or more readings than were recorded): the replay then went on with the
   * system's values, so its outputs may differ from there.
   */
  readonly notes: readonly string[];
}

/**
 * Read a recording file.
 *
 * @throws {RecordingFormatError} where the file breaks.
 * @example
 * ```ts ignore
 * const recording = await loadRecording("recordings/lobby.2026-12-02T10-00-00-000Z.0.jsonl");
 * ```
 */
export async function loadRecording(path: string | URL): Promise<ParsedRecording> {
  return parseRecording(await Deno.readTextFile(path));
}

/**
 * Run a recording's inputs through a fresh room of `service` (one at a time, each after the
 * previous one's hooks have finished, timers fired where the recording has them, a WASM guest's
 * clock readings and random bytes handed back, its events on the recorded fuel budget) and compare
 * the outputs. A recording from production becomes a regression test: the new build must produce the
 * same outputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRecording } from "./record_format.ts";
 * import { replay } from "./replay.ts";
 *
 * const recording = parseRecording(
 *   '{"jamsocketRecording":1,"room":"r","service":"Echo","started":"2026-12-02T00:00:00Z"}\n' +
 *     '["connect",0,1]\n["text",2,1,"hi"]\n["out:text",2,1,"hi"]\n["end",3,"closed"]\n',
 * );
 * const echo = () => ({
 *   message: (client: number, text: string, ctx: { sendMessage(to: number, t: string): void }) =>
 *     ctx.sendMessage(client, text),
 * });
 * const result = await replay(recording, echo);
 * assert.equal(result.difference, undefined);
 * ```
 */
export async function replay(
  recording: ParsedRecording,
  service: ServiceDefinition,
): Promise<ReplayResult> {
  const logs: string[] = [];
  const logger = arrayLogger(logs);
  const runtime = createServiceRuntime(
    service,
    {
      roomHosts: 0,
      cpuLimitFuel: recording.header.fuelPerEvent,
      cpuLimit: recording.header.cpuLimit,
    },
    logger,
    new Metrics(),
  );
  const outputs: OutputEntry[] = [];
  const notes: string[] = [];
  let now = 0;
  const engine: RoomEngine = runtime.engineFactory(recording.header.room, {
    send: (recipient, payload) =>
      outputs.push(
        typeof payload === "string"
          ? ["out:text", now, recipient, payload]
          : ["out:binary", now, recipient, toBase64(payload)],
      ),
    closeClient: (client, code, reason) => outputs.push(["out:close", now, client, code, reason]),
    setTimer: (ms) => outputs.push(["out:timer", now, ms]),
    crash: (error) => outputs.push(["out:crash", now, error.kind, error.message]),
  }, recordedEnvironment(recording, notes));
  const idle = () => engine instanceof LocalEngine ? engine.idle() : Promise.resolve();
  await idle();
  for (const entry of recording.entries) {
    if (!isInput(entry)) continue;
    now = entry[1];
    deliver(engine, entry);
    await idle();
  }
  await engine.close();
  await runtime.close();
  const recorded = recording.entries.filter(isOutput);
  return { outputs, recorded, difference: compare(recording, recorded, outputs), logs, notes };
}

/**
 * The clock readings and random bytes of a recording, handed back in the order they were taken.
 * A reading the recording does not have (or has of the other kind) comes from the system, and a
 * note says where.
 */
function recordedEnvironment(recording: ParsedRecording, notes: string[]): RoomEnvironment {
  const readings = recording.entries.filter(isEnvironment);
  let next = 0;
  const take = <K extends EnvironmentEntry[0]>(kind: K, what: string) => {
    const entry = readings[next];
    if (entry?.[0] === kind) {
      next++;
      return entry as Extract<EnvironmentEntry, readonly [K, ...unknown[]]>;
    }
    if (notes.length < 10) {
      notes.push(
        entry === undefined
          ? `The replay read ${what} after the recording's ${readings.length} readings`
          : `The replay read ${what} where the recording read ${entry[0]} (reading ${next + 1})`,
      );
    }
    return undefined;
  };
  return {
    clock(id) {
      const entry = take("clock", `clock ${id}`);
      return entry ? BigInt(entry[3]) : SYSTEM_ENVIRONMENT.clock(id);
    },
    random(bytes) {
      const entry = take("random", `${bytes.length} random bytes`);
      if (entry === undefined) return SYSTEM_ENVIRONMENT.random(bytes);
      bytes.set(fromBase64(entry[2]).subarray(0, bytes.length));
    },
  };
}

function deliver(engine: RoomEngine, entry: InputEntry): void {
  switch (entry[0]) {
    case "connect":
      return engine.connect(entry[2], entry[3]);
    case "disconnect":
      return engine.disconnect(entry[2]);
    case "text":
      return engine.message(entry[2], entry[3]);
    case "binary":
      return engine.binary(entry[2], fromBase64(entry[3]));
    case "timer":
      return engine.timer();
  }
}

/** The first place where two output lists differ (times aside). */
function compare(
  recording: ParsedRecording,
  recorded: readonly OutputEntry[],
  replayed: readonly OutputEntry[],
): ReplayDifference | undefined {
  const length = Math.max(recorded.length, replayed.length);
  for (let index = 0; index < length; index++) {
    const a = recorded[index];
    const b = replayed[index];
    if (a !== undefined && b !== undefined && sameOutput(a, b)) continue;
    const afterLine = lineBefore(recording, a);
    const where = afterLine === 0 ? "before any input" : `after line ${afterLine}`;
    return {
      index,
      recorded: a,
      replayed: b,
      afterLine,
      message: `Outputs first differ at output ${index + 1} (${where}): recorded ${
        describe(a)
      }, replayed ${describe(b)}`,
    };
  }
  return undefined;
}

function sameOutput(a: OutputEntry, b: OutputEntry): boolean {
  return JSON.stringify([a[0], ...a.slice(2)]) === JSON.stringify([b[0], ...b.slice(2)]);
}

/** The line of the last input before `output` in the recording (0 when none, or no output). */
function lineBefore(recording: ParsedRecording, output: OutputEntry | undefined): number {
  let line = 0;
  for (let i = 0; i < recording.entries.length; i++) {
    const entry = recording.entries[i];
    if (entry === output) return line;
    if (isInput(entry)) line = recording.lines[i];
  }
  return line;
}

function describe(output: OutputEntry | undefined): string {
  if (output === undefined) return "nothing";
  return JSON.stringify([output[0], ...output.slice(2)]).slice(0, 200);
}
