/**
 * What happens to a room once its last client has left.
 *
 * @module
 */

/**
 * When an empty room is destroyed:
 * - `never`: rooms live until the server stops (fixed sets of rooms, development);
 * - `immediate`: as soon as the last client leaves; that client's `disconnect` hook does not run,
 *   the service is destroyed instead (as in the original server);
 * - `{ afterMs }`: after the room has stayed empty that long; a client joining cancels it.
 *
 * @example
 * ```ts
 * import type { ShutdownPolicy } from "./shutdown_policy.ts";
 *
 * const policy: ShutdownPolicy = { afterMs: 300_000 };
 * ```
 */
export type ShutdownPolicy = "never" | "immediate" | { readonly afterMs: number };

/**
 * Parse a shutdown policy as the original CLI spells it: `never`, `immediate` or `<n>sec`.
 *
 * @throws {RangeError} with the original's message shape when `text` is none of those.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShutdownPolicy } from "./shutdown_policy.ts";
 *
 * assert.deepEqual(parseShutdownPolicy("30sec"), { afterMs: 30_000 });
 * assert.throws(() => parseShutdownPolicy("blah"), /Bad shutdown policy 'blah'/);
 * ```
 */
export function parseShutdownPolicy(text: string): ShutdownPolicy {
  if (text === "never" || text === "immediate") return text;
  const seconds = /^(\d+)sec$/.exec(text)?.[1];
  if (seconds !== undefined) return { afterMs: Number(seconds) * 1000 };
  throw new RangeError(
    `Bad shutdown policy '${text}', expected one of never, immediate, <n>sec (for integer n >= 0)`,
  );
}
