/**
 * HTTP errors with a status, and the one place that turns errors into responses.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";

/**
 * A request the server refuses, with the status to answer and a one-line reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpError } from "./http_error.ts";
 *
 * const error = new HttpError(404, 'Room "lobby" does not exist');
 * assert.equal(error.status, 404);
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status to answer with. */
  readonly status: number;
  /** Headers the answer carries besides its content type. */
  readonly headers?: Readonly<Record<string, string>>;

  /** Create an error answered with `status` and `message` as the body (and `options.headers`). */
  constructor(
    status: number,
    message: string,
    options?: ErrorOptions & { headers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.name = "HttpError";
    this.status = status;
    if (options?.headers !== undefined) this.headers = options.headers;
  }
}

/**
 * Answer an error: an {@linkcode HttpError} with its status and message as a one-line text body;
 * anything else is logged and answered 500 without details.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorResponse, HttpError } from "./http_error.ts";
 * import { consoleLogger } from "../util/logger.ts";
 *
 * const response = errorResponse(new HttpError(400, "Bad room ID"), consoleLogger());
 * assert.equal(response.status, 400);
 * assert.equal(await response.text(), "Bad room ID");
 * ```
 */
export function errorResponse(error: unknown, logger: Logger): Response {
  if (error instanceof HttpError) return textResponse(error.status, error.message, error.headers);
  logger.error(`Unexpected error while handling a request: ${describeError(error)}`);
  return textResponse(500, "Internal server error");
}

/**
 * A plain-text response.
 *
 * @example
 * ```ts
 * import { textResponse } from "./http_error.ts";
 *
 * const ok = textResponse(200, "ok");
 * ```
 */
export function textResponse(
  status: number,
  body: string,
  headers?: Readonly<Record<string, string>>,
): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
