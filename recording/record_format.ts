/**
 * The room recording format: JSON Lines, one entry a line, append-only.
 *
 * The first line is a header object; every other line is an array whose first element names the
 * entry and whose second is the time in milliseconds since the room started (what an event does
 * while it runs, without awaiting, carries the event's time; a later output, its own):
 *
 * | line | meaning |
 * | --- | --- |
 * | `{"jamsocketRecording":1,"room":"lobby","service":"counter.wasm",…}` | header |
 * | `["connect",t,client]`, `["connect",t,client,data]` | a client joined (with its data) |
 * | `["disconnect",t,client]` | a client left |
 * | `["text",t,client,"…"]`, `["binary",t,client,"base64"]` | a client sent a frame |
 * | `["timer",t]` | the room's timer fired |
 * | `["clock",t,id,"nanoseconds"]`, `["random",t,"base64"]` | a WASM guest read a clock or randomness |
 * | `["out:text",t,recipient,"…"]`, `["out:binary",t,recipient,"base64"]` | the service sent |
 * | `["out:timer",t,ms]` | the service set its timer |
 * | `["out:close",t,client,code,"reason"]` | the service closed a client |
 * | `["out:crash",t,kind,"message"]` | the room crashed |
 * | `["end",t,"closed" \| "size limit" \| …]` | recording stopped |
 *
 * @module
 */

import type { ClientData } from "../service.ts";

/** The header: the first line of a recording. */
export interface RecordingHeader {
  /** Format version. */
  readonly jamsocketRecording: 1;
  /** The room's id. */
  readonly room: string;
  /** The service's name (a WASM module's file name, a class name). */
  readonly service: string;
  /** For WASM services, `sha256:<hex>` of the module as loaded. */
  readonly module?: string;
  /** For metered WASM services, the fuel one event may use (a replay uses the same budget). */
  readonly fuelPerEvent?: number;
  /** For metered WASM services, the CPU limit in seconds that the fuel stands for. */
  readonly cpuLimit?: number;
  /** When the room started, as an ISO 8601 date. */
  readonly started: string;
}

/** What went into the room, in the order the room received it. */
export type InputEntry =
  | readonly ["connect", number, number]
  | readonly ["connect", number, number, ClientData]
  | readonly ["disconnect", number, number]
  | readonly ["text", number, number, string]
  | readonly ["binary", number, number, string]
  | readonly ["timer", number];

/** A value a WASM guest read from its environment. */
export type EnvironmentEntry =
  | readonly ["clock", number, number, string]
  | readonly ["random", number, string];

/** What the service did. */
export type OutputEntry =
  | readonly ["out:text", number, number, string]
  | readonly ["out:binary", number, number, string]
  | readonly ["out:timer", number, number]
  | readonly ["out:close", number, number, number, string]
  | readonly ["out:crash", number, string, string];

/** One line after the header. */
export type RecordEntry =
  | InputEntry
  | EnvironmentEntry
  | OutputEntry
  | readonly ["end", number, string];

/** The shape of each entry: its name and the types of the elements after the time. */
const SHAPES: Record<string, readonly (readonly FieldKind[])[]> = {
  connect: [["number"], ["number", "any"]],
  disconnect: [["number"]],
  text: [["number", "string"]],
  binary: [["number", "base64"]],
  timer: [[]],
  clock: [["number", "digits"]],
  random: [["base64"]],
  "out:text": [["number", "string"]],
  "out:binary": [["number", "base64"]],
  "out:timer": [["number"]],
  "out:close": [["number", "number", "string"]],
  "out:crash": [["string", "string"]],
  end: [["string"]],
};

/** An entry is an input (it drives the room in a replay). */
export function isInput(entry: RecordEntry): entry is InputEntry {
  return entry[0] === "connect" || entry[0] === "disconnect" || entry[0] === "text" ||
    entry[0] === "binary" || entry[0] === "timer";
}

/** An entry is a value a guest read from its environment (a replay hands it back). */
export function isEnvironment(entry: RecordEntry): entry is EnvironmentEntry {
  return entry[0] === "clock" || entry[0] === "random";
}

/** An entry is an output (what a replay compares). */
export function isOutput(entry: RecordEntry): entry is OutputEntry {
  return entry[0].startsWith("out:");
}

/**
 * A recording that cannot be read: where it breaks (1-based line, byte offset of that line's
 * start) and why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRecording, RecordingFormatError } from "./record_format.ts";
 *
 * assert.throws(() => parseRecording('{"jamsocketRecording":1}\n["text",0'), RecordingFormatError);
 * ```
 */
export class RecordingFormatError extends Error {
  /** The line that breaks (1-based). */
  readonly line: number;
  /** The byte offset in the file where that line starts. */
  readonly byte: number;

  /** `Recording is not readable at line L (byte B): problem`. */
  constructor(line: number, byte: number, problem: string) {
    super(`Recording is not readable at line ${line} (byte ${byte}): ${problem}`);
    this.name = "RecordingFormatError";
    this.line = line;
    this.byte = byte;
  }
}

/** A recording read back: its header and its entries in order, with their line numbers. */
export interface ParsedRecording {
  /** The header. */
  readonly header: RecordingHeader;
  /** Every entry after the header, in order. */
  readonly entries: readonly RecordEntry[];
  /** The line (1-based) of each entry. */
  readonly lines: readonly number[];
  /** Whether the recording ended with an `end` entry (else it was cut short: a crash, a kill). */
  readonly complete: boolean;
}

/**
 * Read a recording. A last line without its newline is taken as cut off (the process died while
 * writing) and dropped; anything else malformed is refused with where it breaks.
 *
 * @throws {RecordingFormatError} with the line and byte of the first bad line.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRecording } from "./record_format.ts";
 *
 * const text = '{"jamsocketRecording":1,"room":"r","service":"s","started":"2026-12-02T00:00:00Z"}\n' +
 *   '["connect",0,1]\n["text",1.5,1,"hi"]\n["out:text",1.6,1,"hi"]\n["end",9,"closed"]\n';
 * const recording = parseRecording(text);
 * assert.equal(recording.entries.length, 4);
 * assert.equal(recording.complete, true);
 * ```
 */
export function parseRecording(text: string): ParsedRecording {
  const rawLines = text.split("\n");
  const cutOff = rawLines.pop() ?? "";
  const entries: RecordEntry[] = [];
  const lines: number[] = [];
  let header: RecordingHeader | undefined;
  let byte = 0;
  const encoder = new TextEncoder();
  for (let index = 0; index < rawLines.length; index++) {
    const line = rawLines[index];
    const fail = (problem: string): never => {
      throw new RecordingFormatError(index + 1, byte, problem);
    };
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      fail(`not JSON (${(error as Error).message})`);
    }
    if (index === 0) {
      header = checkHeader(value, fail);
    } else {
      entries.push(checkEntry(value, fail));
      lines.push(index + 1);
    }
    byte += encoder.encode(line).length + 1;
  }
  if (header === undefined) {
    throw new RecordingFormatError(1, 0, cutOff === "" ? "empty" : "no complete header line");
  }
  const last = entries.at(-1);
  return { header, entries, lines, complete: last?.[0] === "end" };
}

function checkHeader(value: unknown, fail: (problem: string) => never): RecordingHeader {
  const header = value as Partial<RecordingHeader> | null;
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    return fail("the first line must be the header object");
  }
  if (header.jamsocketRecording !== 1) {
    return fail(`unknown format version ${JSON.stringify(header.jamsocketRecording)}`);
  }
  for (const key of ["room", "service", "started"] as const) {
    if (typeof header[key] !== "string") fail(`the header has no "${key}"`);
  }
  return header as RecordingHeader;
}

function checkEntry(value: unknown, fail: (problem: string) => never): RecordEntry {
  if (!Array.isArray(value) || typeof value[0] !== "string") {
    return fail("an entry must be an array that starts with its name");
  }
  const shapes = SHAPES[value[0]];
  if (shapes === undefined) return fail(`unknown entry "${value[0]}"`);
  if (typeof value[1] !== "number") return fail(`"${value[0]}" has no time`);
  const rest = value.slice(2);
  const fits = shapes.some((shape) =>
    shape.length === rest.length && shape.every((kind, i) => fitsKind(rest[i], kind))
  );
  if (!fits) {
    return fail(`"${value[0]}" has the wrong fields: ${JSON.stringify(rest).slice(0, 80)}`);
  }
  return value as unknown as RecordEntry;
}

/** What a field of an entry may hold. */
type FieldKind = "any" | "number" | "string" | "base64" | "digits";

function fitsKind(value: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case "any":
      return true;
    case "number":
      return typeof value === "number";
    case "string":
      return typeof value === "string";
    case "base64":
      return typeof value === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(value);
    case "digits":
      return typeof value === "string" && /^\d{1,20}$/.test(value);
  }
}

/**
 * Bytes as base64, for binary frames in a recording.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromBase64, toBase64 } from "./record_format.ts";
 *
 * assert.deepEqual(fromBase64(toBase64(new Uint8Array([1, 2, 255]))), new Uint8Array([1, 2, 255]));
 * ```
 */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Base64 back to bytes. */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
