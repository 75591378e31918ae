/**
 * The browser build of `JamsocketClient` in a real headless Chromium: a page loads it from a tiny
 * page server (as `jamsocket dev` serves it), talks to a real Jamsocket server on another port,
 * and comes back by itself when that server restarts mid-session.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { CLIENT_SCRIPT_PATH, clientScriptResponse } from "../client/mod.ts";
import { launchChromium } from "./_chromium.ts";
import { startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";

/** The longest a test waits for one thing to happen on the page, in ms. */
const WAIT_MS = 5000;

/**
 * The page: imports the client as a module from the page server, joins room "browser" of the
 * Jamsocket server named in `?server=`, and records every event in `window.events`.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>client test</title>
<link rel="icon" href="data:,">
<script type="module">
import { JamsocketClient } from "${CLIENT_SCRIPT_PATH}";

const server = new URLSearchParams(location.search).get("server");
const client = JamsocketClient.room(server, "browser", { initialDelayMs: 50, maxDelayMs: 300 });
window.events = [];
const describe = (event) => {
  if (event.type === "message") {
    return typeof event.data === "string"
      ? "message " + event.data
      : "message bytes [" + Array.from(event.data).join(",") + "] " + event.data.constructor.name;
  }
  if (event.type === "close") {
    return "close " + event.code + " " + event.reason + (event.willReconnect ? " reconnect" : " final");
  }
  if (event.type === "reconnecting") return "reconnecting " + event.attempt + " after " + event.code;
  return event.reconnected ? "open reconnected" : "open";
};
for (const type of ["open", "message", "close", "reconnecting"]) {
  client.addEventListener(type, (event) => window.events.push(describe(event)));
}
window.client = client;
</script>`;

/** Serve the page at `/` and the client at its path; 404 otherwise. */
function startPageServer(): { origin: string; [Symbol.asyncDispose](): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === CLIENT_SCRIPT_PATH) return clientScriptResponse(request);
    if (path === "/") return new Response(PAGE, { headers: { "content-type": "text/html" } });
    return new Response("Not found", { status: 404 });
  });
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Wait for an event line matching `pattern` at index `from` or later; fail with the lines. */
async function waitForEvent(page: Page, pattern: RegExp, from = 0): Promise<number> {
  try {
    const handle = await page.waitForFunction(
      ([source, start]) => {
        const events = (globalThis as unknown as { events?: string[] }).events ?? [];
        const index = events.findIndex((line, i) => i >= start && new RegExp(source).test(line));
        return index >= 0 ? index + 1 : false; // truthy even for index 0
      },
      [pattern.source, from] as const,
      { timeout: WAIT_MS, polling: 10 },
    );
    return (await handle.jsonValue() as number) - 1;
  } catch (error) {
    throw new Error(
      `Timed out after ${WAIT_MS} ms waiting for an event matching ${pattern}; the page's events:\n${
        (await events(page)).join("\n")
      }`,
      { cause: error },
    );
  }
}

async function events(page: Page): Promise<string[]> {
  return await page.evaluate(() => (globalThis as unknown as { events: string[] }).events);
}

/** Run `code` in the page with its `client`. */
async function withClient<T>(page: Page, code: string): Promise<T> {
  return await page.evaluate(`(() => { const client = window.client; return ${code}; })()`);
}

Deno.test("browser client: the page comes back by itself after the server restarts mid-session", async () => {
  await using pages = startPageServer();
  let server = startServer(recordingEcho());
  const port = server.server.addr.port;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("request", (request) => {
      if (!request.url().startsWith(`${pages.origin}/`)) problems.push(`request: ${request.url()}`);
    });
    await page.goto(`${pages.origin}/?server=${encodeURIComponent(server.http)}`);

    await waitForEvent(page, /^open$/);
    assert.equal(await withClient(page, "client.url"), `ws://127.0.0.1:${port}/ws/browser`);
    await withClient(page, `client.send("hello")`);
    await withClient(page, `client.send(new Uint8Array([1, 2, 255]))`);
    await waitForEvent(page, /^message hello$/);
    await waitForEvent(page, /^message bytes \[1,2,255\] Uint8Array$/);

    // The server goes away (1001) and stays away for a while: the page retries on its own.
    await server[Symbol.asyncDispose]();
    const closed = await waitForEvent(page, /^close 1001 Server shutting down reconnect$/);
    await waitForEvent(page, /^reconnecting 1 after 1001$/, closed);
    await waitForEvent(page, /^close 1006 +reconnect$/, closed);
    assert.equal(await withClient(page, "client.readyState"), 0);
    await withClient(page, `client.send("sent while the server was down")`);
    assert.ok(await withClient<number>(page, "client.bufferedAmount") > 0);

    server = startServer(recordingEcho(), { port });
    const reopened = await waitForEvent(page, /^open reconnected$/, closed);
    await waitForEvent(page, /^message sent while the server was down$/, reopened);
    await withClient(page, `client.send("and again")`);
    await waitForEvent(page, /^message and again$/, reopened);

    await withClient(page, `client.close(1000, "bye")`);
    await waitForEvent(page, /^close 1000 bye final$/, reopened);
    assert.equal(await withClient(page, "client.readyState"), 3);
    // The error Chromium logs for each refused connection attempt is expected; nothing else.
    const unexpected = problems.filter((line) =>
      !/^console error: WebSocket connection to .* failed/.test(line)
    );
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await server[Symbol.asyncDispose]();
  }
});
