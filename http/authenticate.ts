/**
 * Running a service's auth hook: bounded in time, its answer turned into a refusal or into the
 * client's data.
 *
 * @module
 */

import type { AuthenticateHook, AuthResult, ClientData } from "../service.ts";
import { copyJsonValue } from "../util/json_value.ts";
import { describeError, type Logger } from "../util/logger.ts";
import { HttpError } from "./http_error.ts";

/** How {@linkcode authenticate} runs a hook. */
export interface AuthenticateOptions {
  /** Milliseconds the hook may take; past it the client gets 503. */
  readonly timeoutMs: number;
  /** Largest client data the hook may return, as JSON text. */
  readonly maxDataBytes: number;
  /** Where refusals and hook bugs are logged. */
  readonly logger: Logger;
}

/** The hook accepted the client, with this data (`undefined`: none). */
export interface Accepted {
  readonly data: ClientData | undefined;
}

/**
 * Run `hook` for a WebSocket upgrade to `roomId` and resolve with the client's data, or with the
 * `Response` that refuses it. Never rejects with anything but an {@linkcode HttpError}: a hook
 * that throws an error with a `status` (400–599) gives that status and its message; one that
 * throws anything else gives 403 (logged); one that takes longer than `timeoutMs` gives 503
 * (logged); one whose data is not JSON-serialisable or too large gives 500 (logged as the bug it
 * is).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { authenticate } from "./authenticate.ts";
 * import { consoleLogger } from "../util/logger.ts";
 *
 * const options = { timeoutMs: 1000, maxDataBytes: 1024, logger: consoleLogger("error") };
 * const accepted = await authenticate(() => ({ name: "ann" }), new Request("http://x/"), "lobby", options);
 * assert.deepEqual(accepted, { data: { name: "ann" } });
 * ```
 */
export async function authenticate(
  hook: AuthenticateHook,
  request: Request,
  roomId: string,
  options: AuthenticateOptions,
): Promise<Accepted | Response> {
  const { logger } = options;
  let result: AuthResult;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AuthTimeout()), options.timeoutMs);
    });
    result = await Promise.race([Promise.resolve().then(() => hook(request, roomId)), timeout]);
  } catch (error) {
    if (error instanceof AuthTimeout) {
      logger.warn(
        `Auth hook for room "${roomId}" took longer than ${options.timeoutMs} ms; answered 503`,
      );
      throw new HttpError(503, "Authentication timed out; try again later");
    }
    const status = (error as { status?: unknown } | null)?.status;
    if (typeof status === "number" && Number.isInteger(status) && status >= 400 && status < 600) {
      throw new HttpError(status, oneLine((error as Error).message) || "Refused", { cause: error });
    }
    logger.warn(`Auth hook for room "${roomId}" threw, answered 403: ${describeError(error)}`);
    throw new HttpError(403, "Forbidden", { cause: error });
  } finally {
    clearTimeout(timer);
  }
  if (result instanceof Response) return result;
  if (result === false) throw new HttpError(403, "Forbidden");
  if (result === true || result === undefined) return { data: undefined };
  try {
    return { data: copyJsonValue(result, options.maxDataBytes) as ClientData };
  } catch (error) {
    logger.error(`Auth hook for room "${roomId}" returned unusable data: ${describeError(error)}`);
    throw new HttpError(500, "Internal server error", { cause: error });
  }
}

class AuthTimeout extends Error {}

function oneLine(text: string): string {
  return String(text ?? "").split("\n")[0].slice(0, 200);
}
