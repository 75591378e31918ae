/**
 * Which web origins may open WebSockets: the defence against cross-site WebSocket hijacking.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";

/**
 * Checks the `Origin` header of WebSocket upgrades against a list. Browsers send `Origin` with
 * every WebSocket and, unlike `fetch`, let any page open a socket to any server — with that
 * server's cookies. A service that trusts cookies must list the origins of its own pages.
 * `"*"`, or no list at all, allows every origin. A request without `Origin` (a client that is not
 * a browser) is allowed: it could send any `Origin` it likes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OriginPolicy } from "./origins.ts";
 *
 * const policy = new OriginPolicy(["https://app.example.com"]);
 * const from = (origin: string) => new Request("http://x/ws/1", { headers: { origin } });
 * policy.check(from("https://app.example.com"));
 * assert.throws(() => policy.check(from("https://evil.example")), /not allowed/);
 * ```
 */
export class OriginPolicy {
  readonly #allowed: ReadonlySet<string> | undefined;

  /**
   * Allow `origins` (`scheme://host[:port]`, as browsers send them); `undefined` or `"*"` allows all.
   *
   * @throws {TypeError} for an entry that is not an origin.
   */
  constructor(origins?: readonly string[]) {
    if (origins === undefined || origins.includes("*")) return;
    this.#allowed = new Set(origins.map(normalizeOrigin));
  }

  /** @throws {HttpError} 403 when the request's origin is not allowed. */
  check(request: Request): void {
    if (this.#allowed === undefined) return;
    const origin = request.headers.get("origin");
    if (origin === null || this.#allowed.has(origin.toLowerCase())) return;
    throw new HttpError(403, `Origin "${origin.slice(0, 200)}" is not allowed`);
  }
}

function normalizeOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new TypeError(`Not an origin: "${origin}" (expected scheme://host[:port])`);
  }
  if (url.origin === "null" || url.pathname !== "/" || url.search || url.hash) {
    throw new TypeError(`Not an origin: "${origin}" (expected scheme://host[:port])`);
  }
  return url.origin.toLowerCase();
}
