/**
 * Checking and copying JSON values (per-client data): JSON-serialisable and size-capped.
 *
 * @module
 */

/**
 * Copy `value`: it must survive `JSON.stringify` unchanged in kind (no functions, symbols,
 * `undefined`, BigInt, cycles; non-finite numbers are refused rather than turned into `null`) and
 * be at most `maxBytes` long as JSON text. Returns a deep copy. `what` names the value in errors.
 *
 * @throws {TypeError} naming what is not serialisable. @throws {RangeError} when it is too large.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyJsonValue } from "./json_value.ts";
 *
 * const data = { name: "ann" };
 * const copy = copyJsonValue(data, 1024);
 * assert.deepEqual(copy, { name: "ann" });
 * assert.notEqual(copy, data);
 * assert.throws(() => copyJsonValue({ f: () => 1 }, 1024), TypeError);
 * assert.throws(() => copyJsonValue("x".repeat(2000), 1024), RangeError);
 * ```
 */
export function copyJsonValue(value: unknown, maxBytes: number, what = "Client data"): unknown {
  return JSON.parse(jsonText(value, maxBytes, what));
}

/**
 * `value` as JSON text, checked as {@linkcode copyJsonValue} checks it.
 *
 * @throws {TypeError} naming what is not serialisable. @throws {RangeError} when it is too large.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonText } from "./json_value.ts";
 *
 * assert.equal(jsonText({ n: 1 }, 1024), '{"n":1}');
 * ```
 */
export function jsonText(value: unknown, maxBytes: number, what = "Client data"): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value, (key, item) => {
      const kind = typeof item;
      if (kind === "function" || kind === "symbol" || kind === "bigint" || item === undefined) {
        throw new TypeError(
          `${describeKey(key)} is ${kind === "undefined" ? "undefined" : `a ${kind}`}`,
        );
      }
      if (kind === "number" && !Number.isFinite(item)) {
        throw new TypeError(`${describeKey(key)} is ${item}, which JSON cannot hold`);
      }
      return item;
    });
  } catch (error) {
    const detail = error instanceof TypeError ? error.message : String(error);
    throw new TypeError(`${what} is not JSON-serialisable: ${detail}`, { cause: error });
  }
  if (json!.length > maxBytes) {
    throw new RangeError(
      `${what} is ${json!.length} bytes as JSON, over the limit of ${maxBytes}`,
    );
  }
  return json!;
}

function describeKey(key: string): string {
  return key === "" ? "the value" : `"${key}"`;
}
