/**
 * The one error class of the client.
 *
 * @module
 */

/** Why {@linkcode JamsocketClientError} was thrown. */
export type JamsocketClientErrorKind = "closed" | "queue-full";

/**
 * Thrown by `JamsocketClient.send()`: when the client has closed for good (`kind: "closed"`), or
 * when the message would not fit in the bounded queue of sends waiting for a connection
 * (`kind: "queue-full"`). Nothing is dropped silently: a message that throws was not sent and
 * will not be.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamsocketClientError } from "./client_error.ts";
 *
 * const error = new JamsocketClientError("closed", "Cannot send: the client is closed");
 * assert.equal(error.name, "JamsocketClientError");
 * assert.equal(error.kind, "closed");
 * ```
 */
export class JamsocketClientError extends Error {
  /** What went wrong: `"closed"` or `"queue-full"`. */
  readonly kind: JamsocketClientErrorKind;

  /** An error of `kind` with `message`. */
  constructor(kind: JamsocketClientErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JamsocketClientError";
    this.kind = kind;
  }
}
