/**
 * The page `jamsocket dev` serves at `/` when there is no static folder: clients side by side,
 * each in a room (join one room twice and watch a broadcast arrive in both), every frame with its
 * time (JSON pretty-printed, bytes as numbers), the client id where the service says it, a live
 * list of rooms and their clients, and the state of the build: a failed build shows a banner with
 * the compiler's output until the next good one.
 *
 * Clients are the reconnecting client (`/_jamsocket/client.js`): they come back after a hot
 * reload (1012) and after the dev server restarts (1001, then failed attempts until it is back);
 * a room that crashes (1011) shows the crash and its reason, and tries again once a good build
 * arrives. Builds and rooms come from the dev server's events (`/_jamsocket/events`).
 *
 * The page is one HTML document with inline CSS and script (`dev_page.css`, `dev_page.js`, text
 * imports so that `deno compile` carries them); it loads nothing but the client from its own
 * server, and works offline.
 *
 * @example Serve the dev page next to a service
 * ```ts ignore
 * import { serve } from "../server.ts";
 * import { SharedCounterServer } from "../examples/counter.ts";
 * import { devPageFallback } from "./dev_page.ts";
 *
 * serve(SharedCounterServer, { fallback: devPageFallback }); // open http://localhost:8080/
 * ```
 *
 * @module
 */

import { textResponse } from "../http/http_error.ts";
import SCRIPT from "./dev_page.js" with { type: "text" };
import STYLE from "./dev_page.css" with { type: "text" };

/** Nothing but the page, its server's client script, events and WebSockets. */
const CSP = [
  "default-src 'none'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "img-src data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * The dev page: one complete HTML document with inline CSS and script. It loads only
 * `/_jamsocket/client.js` and `/_jamsocket/events` from its own server.
 *
 * Stable hooks for tests: `#build-status` (`data-state`: `building`, `built`, `failed`),
 * `#server-status` (`live`, `down`), `#build-banner` (hidden unless the last build failed) with
 * `#build-headline` and `#build-output`; `#rooms` (`<li data-room>` with `.room-name`,
 * `.room-clients`, and a `.chip` per client of this page); `#new-room` and `#add-client`; and
 * `#panels`, one `.panel[data-panel][data-state]` per client (`connecting`, `open`, `crashed`,
 * `closed`) whose parts carry `data-part`: `title`, `id`, `status`, `room`, `connect`, `url`,
 * `log` (entries `<li data-kind>`: `sent`, `sent-binary`, `received`, `binary`, `open`,
 * `closed`, `restart`, `crash`, `error`, `info`, with `data-format="json"` when pretty-printed;
 * each holds a `<time>`, a `.kind` and a `.text`), `text`, `send`, `bytes`, `send-bytes`,
 * `clear`, `remove`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEV_PAGE_HTML } from "./dev_page.ts";
 *
 * assert.ok(DEV_PAGE_HTML.startsWith("<!doctype html>"));
 * assert.ok(DEV_PAGE_HTML.includes('id="panels"'));
 * ```
 */
export const DEV_PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>Jamsocket dev</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Jamsocket dev</h1>
  <span id="build-status" class="chip-status" role="status" data-state="building">waiting for the server…</span>
  <span id="server-status" class="chip-status" data-state="connecting">connecting…</span>
</header>
<section id="build-banner" role="alert" hidden>
  <div id="build-headline"></div>
  <p id="build-note"></p>
  <pre id="build-output"></pre>
</section>
<div class="layout">
  <aside aria-labelledby="rooms-heading">
    <h2 id="rooms-heading">Rooms</h2>
    <ul id="rooms"></ul>
    <p id="rooms-empty" class="hint">No rooms yet: add a client.</p>
    <p class="hint">Click a room to add a client to it.</p>
  </aside>
  <main class="work">
    <form id="add-form">
      <label for="new-room">Room</label>
      <input id="new-room" name="room" autocomplete="off" spellcheck="false" required>
      <button id="add-client" type="submit">Add client</button>
      <span class="hint">Add it twice to watch a broadcast reach both.</span>
    </form>
    <div id="panels"></div>
  </main>
</div>
<template id="panel-template">
  <section class="panel" data-state="closed">
    <div class="panel-head">
      <h2 data-part="title"></h2>
      <span class="panel-id" data-part="id"></span>
      <span class="panel-status" data-part="status" data-state="closed">closed</span>
      <button class="icon" type="button" data-part="remove" title="Remove this client" aria-label="Remove this client">×</button>
    </div>
    <form data-part="connect-form">
      <input data-part="room" aria-label="Room" autocomplete="off" spellcheck="false" required>
      <button type="submit" data-part="connect">Connect</button>
    </form>
    <div class="panel-url" data-part="url"></div>
    <ol class="panel-log" data-part="log" role="log" aria-live="polite"></ol>
    <form data-part="text-form">
      <input data-part="text" aria-label="Text to send" autocomplete="off" placeholder="text or JSON">
      <button type="submit" data-part="send" disabled>Send</button>
    </form>
    <form data-part="bytes-form">
      <input data-part="bytes" aria-label="Bytes to send" autocomplete="off" spellcheck="false" placeholder="bytes: 1 2 255 or 01 02 ff">
      <button type="submit" data-part="send-bytes" disabled>Send bytes</button>
    </form>
    <div class="panel-tools"><button class="secondary" type="button" data-part="clear">Clear</button></div>
  </section>
</template>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
} as const;

/**
 * A `fallback` for `createHandler()` and `serve()` that answers `GET` and `HEAD` of `/` and
 * `/index.html` with {@linkcode DEV_PAGE_HTML}, and everything else with 404 `Not found`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { devPageFallback } from "./dev_page.ts";
 *
 * const page = devPageFallback(new Request("http://localhost:8080/"));
 * assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
 * assert.equal(devPageFallback(new Request("http://localhost:8080/nope")).status, 404);
 * ```
 */
export function devPageFallback(request: Request): Response {
  const { pathname } = new URL(request.url);
  const method = request.method;
  if ((pathname !== "/" && pathname !== "/index.html") || (method !== "GET" && method !== "HEAD")) {
    return textResponse(404, "Not found");
  }
  return new Response(method === "HEAD" ? null : DEV_PAGE_HTML, { headers: PAGE_HEADERS });
}
