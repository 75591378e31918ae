/**
 * The browser build of the client as a string, for servers to hand to pages.
 *
 * @module
 */

import { CLIENT_JS } from "./_client_js.ts";

/**
 * The path the dev server serves {@linkcode CLIENT_SCRIPT} at. Pages import the client from it:
 * `import { JamsocketClient } from "/_jamsocket/client.js"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLIENT_SCRIPT_PATH } from "./client_script.ts";
 *
 * assert.equal(CLIENT_SCRIPT_PATH, "/_jamsocket/client.js");
 * ```
 */
export const CLIENT_SCRIPT_PATH = "/_jamsocket/client.js";

/**
 * The client for browsers: the source text of an ES2022 module exporting `JamsocketClient`, its
 * events and its error class (the same as `client/client.js`, generated from the TypeScript by
 * `deno task client`). Embedded in the code, so a `deno compile`d server carries it and reads no
 * file at run time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLIENT_SCRIPT } from "./client_script.ts";
 *
 * assert.match(CLIENT_SCRIPT, /export \{[^}]*JamsocketClient,/);
 * ```
 */
export const CLIENT_SCRIPT: string = CLIENT_JS;

/**
 * Answer a request for the client script: `GET` and `HEAD` get {@linkcode CLIENT_SCRIPT} as
 * `text/javascript` (revalidated on every load, so a page never runs a stale client); other
 * methods get 405. Route to it yourself, e.g. at {@linkcode CLIENT_SCRIPT_PATH}.
 *
 * @example Serve the client next to a Jamsocket server
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLIENT_SCRIPT, CLIENT_SCRIPT_PATH, clientScriptResponse } from "./client_script.ts";
 *
 * const fallback = (request: Request) =>
 *   new URL(request.url).pathname === CLIENT_SCRIPT_PATH
 *     ? clientScriptResponse(request)
 *     : new Response("Not found", { status: 404 });
 * const response = fallback(new Request(`http://localhost${CLIENT_SCRIPT_PATH}`));
 * assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
 * assert.equal(await response.text(), CLIENT_SCRIPT);
 * ```
 */
export function clientScriptResponse(request: Request): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed; use GET", {
      status: 405,
      headers: { "content-type": "text/plain; charset=utf-8", allow: "GET, HEAD" },
    });
  }
  return new Response(request.method === "HEAD" ? null : CLIENT_SCRIPT, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
    },
  });
}
