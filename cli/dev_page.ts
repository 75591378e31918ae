/**
 * The page `jamsocket dev` serves at `/` when there is no static folder: pick a room, connect,
 * send text or bytes, and watch every frame with its time. When the server hot-reloads the
 * service (close code 1012) the page says so and reconnects by itself.
 *
 * The page is one self-contained HTML document (inline CSS and script, no external resources), kept
 * in a string so that `deno compile` carries it and it works offline.
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

/**
 * The dev page's script. Plain browser JavaScript in a raw string: no backticks, no `${`, every
 * message shown with `textContent`.
 */
const SCRIPT = String.raw`
"use strict";
const $ = (id) => document.getElementById(id);
const roomInput = $("room");
const connectButton = $("connect");
const statusBadge = $("status");
const urlLabel = $("url");
const textInput = $("text");
const sendButton = $("send");
const bytesInput = $("bytes");
const sendBytesButton = $("send-bytes");
const log = $("log");

const FIRST_RETRY_MS = 300;
const MAX_RETRY_MS = 5000;
const MAX_ENTRIES = 1000;
const MAX_SHOWN_BYTES = 256;
const LABELS = {
  sent: "sent",
  "sent-binary": "sent bytes",
  received: "received",
  binary: "binary",
  open: "open",
  closed: "closed",
  restart: "restart",
  error: "error",
  info: "info",
};

let socket = null;
let room = "";
let retryMs = FIRST_RETRY_MS;
let retryTimer = 0;
let reconnecting = false;

roomInput.value = new URLSearchParams(location.search).get("room") || "1";

function pad(value, width) {
  return String(value).padStart(width, "0");
}

function clock(date) {
  return pad(date.getHours(), 2) + ":" + pad(date.getMinutes(), 2) + ":" +
    pad(date.getSeconds(), 2) + "." + pad(date.getMilliseconds(), 3);
}

function addEntry(kind, text) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const now = new Date();
  const item = document.createElement("li");
  item.dataset.kind = kind;
  const time = document.createElement("time");
  time.dateTime = now.toISOString();
  time.textContent = clock(now);
  const label = document.createElement("span");
  label.className = "kind";
  label.textContent = LABELS[kind];
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(time, label, body);
  log.append(item);
  while (log.childElementCount > MAX_ENTRIES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function describeBytes(bytes) {
  const shown = Array.from(bytes.subarray(0, MAX_SHOWN_BYTES)).join(", ");
  if (bytes.length <= MAX_SHOWN_BYTES) return "[" + shown + "]";
  return "[" + shown + ", …] (" + bytes.length + " bytes)";
}

/** "1 2 255", "1, 2, 255", "[1, 2, 255]": decimal; "01 02 ff", "0x10", "0102ff": hex. */
function parseBytes(input) {
  const tokens = input.replace(/[\[\],]/g, " ").trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new Error("enter bytes such as 1 2 255 or 01 02 ff");
  const hex = tokens.some((token) => /^0x/i.test(token) || /[a-f]/i.test(token));
  const values = [];
  for (const token of tokens) {
    if (hex) {
      const digits = token.replace(/^0x/i, "");
      if (!/^[0-9a-f]+$/i.test(digits)) throw new Error("\"" + token + "\" is not hex");
      if (digits.length > 2 && digits.length % 2 === 0) {
        for (let i = 0; i < digits.length; i += 2) {
          values.push(parseInt(digits.slice(i, i + 2), 16));
        }
      } else if (digits.length <= 2) {
        values.push(parseInt(digits, 16));
      } else {
        throw new Error("\"" + token + "\" is not a whole number of hex bytes");
      }
    } else {
      if (!/^\d+$/.test(token)) throw new Error("\"" + token + "\" is not a number");
      const value = Number(token);
      if (value > 255) throw new Error("\"" + token + "\" is larger than 255");
      values.push(value);
    }
  }
  return new Uint8Array(values);
}

function setState(state, text) {
  statusBadge.dataset.state = state;
  statusBadge.textContent = text;
  const idle = state === "closed";
  connectButton.textContent = idle ? "Connect" : "Disconnect";
  roomInput.disabled = !idle;
  sendButton.disabled = state !== "open";
  sendBytesButton.disabled = state !== "open";
}

function socketUrl(id) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + location.host + "/ws/" + encodeURIComponent(id);
}

function connect() {
  clearTimeout(retryTimer);
  const url = socketUrl(room);
  urlLabel.textContent = url;
  setState("connecting", reconnecting ? "reconnecting…" : "connecting…");
  let opened = false;
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  socket = ws;
  ws.onopen = () => {
    opened = true;
    reconnecting = false;
    retryMs = FIRST_RETRY_MS;
    setState("open", "open");
    addEntry("open", "connected to " + url);
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") addEntry("received", event.data);
    else addEntry("binary", describeBytes(new Uint8Array(event.data)));
  };
  ws.onerror = () => {
    if (socket !== ws) return;
    addEntry("error", "WebSocket error" + (opened ? "" : ": cannot connect to " + url));
  };
  ws.onclose = (event) => {
    addEntry("closed", "code " + event.code + (event.reason ? ": " + event.reason : ""));
    if (socket !== ws) return;
    socket = null;
    if (event.code === 1012) {
      reconnecting = true;
      retryMs = FIRST_RETRY_MS;
      addEntry(
        "restart",
        "Server restarted the room (1012: " + (event.reason || "Service restart") +
          ") — reconnecting…",
      );
    }
    if (!reconnecting) {
      setState("closed", "closed");
      return;
    }
    const delay = retryMs;
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    if (!opened) addEntry("info", "reconnect failed; trying again in " + delay + " ms");
    setState("connecting", "reconnecting in " + delay + " ms…");
    retryTimer = setTimeout(connect, delay);
  };
}

function disconnect() {
  clearTimeout(retryTimer);
  reconnecting = false;
  const ws = socket;
  socket = null;
  setState("closed", "closed");
  ws?.close(1000, "Disconnected by the user");
}

$("connect-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (statusBadge.dataset.state !== "closed") return disconnect();
  room = roomInput.value;
  if (room === "") return addEntry("error", "enter a room id");
  const url = new URL(location.href);
  url.searchParams.set("room", room);
  history.replaceState(null, "", url);
  reconnecting = false;
  connect();
});

$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(textInput.value);
  addEntry("sent", textInput.value);
  textInput.select();
});

$("bytes-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  let bytes;
  try {
    bytes = parseBytes(bytesInput.value);
  } catch (error) {
    bytesInput.setAttribute("aria-invalid", "true");
    return addEntry("error", "Cannot send bytes: " + error.message);
  }
  bytesInput.removeAttribute("aria-invalid");
  socket.send(bytes);
  addEntry("sent-binary", describeBytes(bytes));
  bytesInput.select();
});

$("clear").addEventListener("click", () => log.replaceChildren());
setState("closed", "closed");
`;

/** Nothing but the page itself and WebSockets: no CDN, no fonts, no images from elsewhere. */
const CSP = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "img-src data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #fafafa; --fg: #1d1d1f; --muted: #5f6368; --line: #d9d9de; --panel: #fff;
  --accent: #0b57d0; --open: #137333; --warn: #8a5300; --bad: #b3261e;
  --sent: #0b57d0; --received: #137333; --binary: #6f3cc4;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #17181a; --fg: #e8e8ea; --muted: #a0a4ab; --line: #34363b; --panel: #1f2023;
    --accent: #8ab4f8; --open: #81c995; --warn: #fdd663; --bad: #f28b82;
    --sent: #8ab4f8; --received: #81c995; --binary: #c58af9;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
  display: flex; flex-direction: column; height: 100vh;
}
header, main { padding: 0 1rem; }
header { display: flex; align-items: center; gap: 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.1rem; margin: 0.75rem 0; }
h2 { font-size: 1rem; margin: 0; }
main {
  display: flex; flex-direction: column; gap: 0.6rem; flex: 1; min-height: 0; padding-top: 0.8rem;
}
form { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; margin: 0; }
label { min-width: 3.5rem; font-weight: 600; }
input {
  flex: 1 1 16rem; max-width: 32rem; padding: 0.35rem 0.5rem; font: inherit;
  border: 1px solid var(--line); border-radius: 6px; background: var(--panel); color: inherit;
}
input[aria-invalid="true"] { border-color: var(--bad); }
button {
  padding: 0.35rem 0.9rem; font: inherit; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--accent); background: var(--accent); color: var(--bg);
}
button:disabled { opacity: 0.45; cursor: default; }
button.secondary { background: transparent; color: var(--accent); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.hint, #url { color: var(--muted); font-size: 0.85rem; }
#url { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
#status {
  padding: 0.1rem 0.6rem; border-radius: 999px; border: 1px solid currentColor; font-size: 0.85rem;
}
#status[data-state="open"] { color: var(--open); }
#status[data-state="connecting"] { color: var(--warn); }
#status[data-state="closed"] { color: var(--muted); }
.log-head {
  display: flex; align-items: center; justify-content: space-between; margin-top: 0.4rem;
}
#log {
  list-style: none; margin: 0 0 1rem; padding: 0.25rem 0; flex: 1; min-height: 8rem;
  overflow-y: auto;
  border: 1px solid var(--line); border-radius: 6px; background: var(--panel);
  font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
}
#log li {
  display: grid; grid-template-columns: 12ch 10ch 1fr; gap: 0.75em; padding: 0.1rem 0.6rem;
}
#log li:nth-child(even) { background: color-mix(in srgb, var(--line) 25%, transparent); }
#log time { color: var(--muted); }
#log .kind { font-weight: 600; }
#log .text { white-space: pre-wrap; overflow-wrap: anywhere; }
#log [data-kind="sent"] .kind, #log [data-kind="sent-binary"] .kind { color: var(--sent); }
#log [data-kind="received"] .kind { color: var(--received); }
#log [data-kind="binary"] .kind { color: var(--binary); }
#log [data-kind="open"] .kind { color: var(--open); }
#log [data-kind="closed"] .kind, #log [data-kind="info"] .kind { color: var(--muted); }
#log [data-kind="restart"] { color: var(--warn); font-weight: 600; }
#log [data-kind="error"] .kind, #log [data-kind="error"] .text { color: var(--bad); }
`;

/**
 * The dev page: one complete HTML document with inline CSS and script and no external resources
 * (its Content-Security-Policy allows none), so it works offline and inside a compiled binary.
 *
 * Stable ids (each also a `data-testid`): `room`, `connect`, `status` (`data-state` is
 * `connecting`, `open` or `closed`), `url`, `text`, `send`, `bytes`, `send-bytes`, `clear`, and
 * `log`, whose entries are `<li data-kind>` (`sent`, `sent-binary`, `received`, `binary`, `open`,
 * `closed`, `restart`, `error`, `info`) holding a `<time>`, a `.kind` and a `.text`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEV_PAGE_HTML } from "./dev_page.ts";
 *
 * assert.ok(DEV_PAGE_HTML.startsWith("<!doctype html>"));
 * assert.ok(DEV_PAGE_HTML.includes('id="log"'));
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
  <span id="status" data-testid="status" role="status" data-state="closed">closed</span>
</header>
<main>
  <form id="connect-form" data-testid="connect-form">
    <label for="room">Room</label>
    <input id="room" data-testid="room" name="room" autocomplete="off" spellcheck="false" required>
    <button id="connect" data-testid="connect" type="submit">Connect</button>
    <span id="url" data-testid="url"></span>
  </form>
  <form id="text-form" data-testid="text-form">
    <label for="text">Text</label>
    <input id="text" data-testid="text" name="text" autocomplete="off" placeholder="increment">
    <button id="send" data-testid="send" type="submit" disabled>Send</button>
  </form>
  <form id="bytes-form" data-testid="bytes-form">
    <label for="bytes">Bytes</label>
    <input id="bytes" data-testid="bytes" name="bytes" autocomplete="off" spellcheck="false"
      placeholder="1 2 255 or 01 02 ff" aria-describedby="bytes-hint">
    <button id="send-bytes" data-testid="send-bytes" type="submit" disabled>Send bytes</button>
    <span id="bytes-hint" class="hint">Decimal, or hex when a byte has a–f or 0x.</span>
  </form>
  <div class="log-head">
    <h2 id="log-heading">Messages</h2>
    <button id="clear" data-testid="clear" type="button" class="secondary">Clear</button>
  </div>
  <ol id="log" data-testid="log" role="log" aria-labelledby="log-heading" aria-live="polite"></ol>
</main>
<script>${SCRIPT}</script>
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
