/**
 * Room id strategies (how rooms come to exist), id generators, and room id validation.
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";

/**
 * How rooms are created, under the original server's names:
 * - `implicit`: any id; a room is created on first connect, by `POST /ws/{id}`, or with a UUID by
 *   `POST /new_room`;
 * - `api`: only by `POST /ws/{id}`;
 * - `short` / `short<n>`: only by `POST /new_room`, with `n` upper-case letters (default 4,
 *   3 ≤ n < 13), never repeating until every id of that length has been used;
 * - `uuid`: only by `POST /new_room`, with a random UUID.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRoomIdStrategy } from "./room_id.ts";
 *
 * const strategy = parseRoomIdStrategy("short6");
 * assert.equal(strategy.generate?.().length, 6);
 * assert.equal(strategy.implicitCreation, false);
 * ```
 */
export interface RoomIdStrategy {
  /** The strategy's name as given on the command line. */
  readonly name: string;
  /** A connection to an unknown room id creates the room. */
  readonly implicitCreation: boolean;
  /** `POST /ws/{id}` may create a room with a chosen id. */
  readonly explicitCreation: boolean;
  /** Generates ids for `POST /new_room`; absent when the strategy generates none. */
  readonly generate?: () => string;
}

/** Names accepted by {@linkcode parseRoomIdStrategy}. */
export type RoomIdStrategyName = "implicit" | "api" | "short" | `short${number}` | "uuid";

const SHORTEST_SHORT_ID = 3;
const LONGEST_SHORT_ID = 13;
const DEFAULT_SHORT_ID = 4;

/**
 * Parse a strategy name (`implicit`, `api`, `short`, `short<n>`, `uuid`).
 *
 * @throws {RangeError} naming the bad value and the accepted ones.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRoomIdStrategy } from "./room_id.ts";
 *
 * assert.equal(parseRoomIdStrategy("api").explicitCreation, true);
 * assert.throws(() => parseRoomIdStrategy("short2"), /Bad room ID strategy 'short2'/);
 * ```
 */
export function parseRoomIdStrategy(name: string): RoomIdStrategy {
  switch (name) {
    case "implicit":
      return { name, implicitCreation: true, explicitCreation: true, generate: uuidRoomId };
    case "api":
      return { name, implicitCreation: false, explicitCreation: true };
    case "uuid":
      return { name, implicitCreation: false, explicitCreation: false, generate: uuidRoomId };
  }
  const length = name === "short" ? DEFAULT_SHORT_ID : Number(/^short(\d+)$/.exec(name)?.[1]);
  if (length >= SHORTEST_SHORT_ID && length < LONGEST_SHORT_ID) {
    return {
      name,
      implicitCreation: false,
      explicitCreation: false,
      generate: shortRoomIdGenerator(length),
    };
  }
  throw new RangeError(
    `Bad room ID strategy '${name}', expected one of implicit, api, short, short<n> (3 <= n < 13), uuid`,
  );
}

/**
 * A random UUID (v4), the id `POST /new_room` makes under `implicit` and `uuid`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { uuidRoomId } from "./room_id.ts";
 *
 * assert.match(uuidRoomId(), /^[0-9a-f-]{36}$/);
 * ```
 */
export function uuidRoomId(): string {
  return crypto.randomUUID();
}

/**
 * The multiplier of the full-period linear congruential generator behind short ids. By the
 * Hull–Dobell theorem, `x → (a·x + 1) mod 26^n` visits every value once per period when `a - 1`
 * is divisible by 2, 13 and 4; 53 is the smallest such `a` (as in the original server).
 */
const LCG_MULTIPLIER = 53n;

/**
 * A generator of `length` upper-case letters that repeats no id until all 26^length are used,
 * then throws an {@linkcode HttpError} 409 "Ran out of unique room IDs". The start of the sequence
 * is random.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shortRoomIdGenerator } from "./room_id.ts";
 *
 * const next = shortRoomIdGenerator(3);
 * assert.match(next(), /^[A-Z]{3}$/);
 * ```
 */
export function shortRoomIdGenerator(length: number): () => string {
  const period = 26n ** BigInt(length);
  let state = randomBelow(period);
  const offset = randomBelow(period);
  let issued = 0n;
  return () => {
    if (issued === period) throw new HttpError(409, "Ran out of unique room IDs");
    issued++;
    state = (LCG_MULTIPLIER * state + 1n) % period;
    let value = (state + offset) % period;
    let id = "";
    for (let i = 0; i < length; i++) {
      id += String.fromCharCode(0x41 + Number(value % 26n));
      value /= 26n;
    }
    return id;
  };
}

function randomBelow(limit: bigint): bigint {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return ((BigInt(high) << 32n) | BigInt(low)) % limit;
}

/** The longest room id accepted, in UTF-8 bytes. */
export const MAX_ROOM_ID_BYTES = 256;

// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Check a (decoded) room id: not empty, at most 256 UTF-8 bytes, no control characters.
 *
 * @throws {HttpError} 400 with the reason.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateRoomId } from "./room_id.ts";
 *
 * validateRoomId("lobby");
 * assert.throws(() => validateRoomId(""), /Room ID is empty/);
 * ```
 */
export function validateRoomId(id: string): void {
  if (id.length === 0) throw new HttpError(400, "Room ID is empty");
  if (new TextEncoder().encode(id).length > MAX_ROOM_ID_BYTES) {
    throw new HttpError(400, `Room ID is longer than ${MAX_ROOM_ID_BYTES} bytes`);
  }
  if (CONTROL_CHARACTER.test(id)) throw new HttpError(400, "Room ID contains a control character");
}
