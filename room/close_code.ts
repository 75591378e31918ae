/**
 * The WebSocket close codes this server sends, and why.
 *
 * @module
 */

/**
 * WebSocket close codes (RFC 6455 §7.4.1) the server uses. One place maps room failures to them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CloseCode } from "./close_code.ts";
 *
 * assert.equal(CloseCode.ServiceRestart, 1012);
 * ```
 */
export const CloseCode = {
  /** The room was closed on purpose (shutdown policy, a service asking to close). */
  Normal: 1000,
  /** The server is shutting down, or the peer stopped answering pings. */
  GoingAway: 1001,
  /** The client broke a rule: sent too fast, or read too slowly. */
  PolicyViolation: 1008,
  /** The client sent a frame larger than the server accepts. */
  MessageTooBig: 1009,
  /** The room crashed: its service threw in its constructor, or its WASM instance trapped. */
  InternalError: 1011,
  /** The service was reloaded; reconnect to get the new version. */
  ServiceRestart: 1012,
  /** The server could not take the client just now (at capacity); try again later. */
  TryAgainLater: 1013,
} as const;

/** One of the {@linkcode CloseCode} values. */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];

/** The longest close reason a frame can carry, in UTF-8 bytes (125 minus the 2-byte code). */
const MAX_REASON_BYTES = 123;

/**
 * Shorten a close reason to what a close frame can carry, at a character boundary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeReason } from "./close_code.ts";
 *
 * assert.equal(closeReason("x".repeat(200)).length, 123);
 * ```
 */
export function closeReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return reason;
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
