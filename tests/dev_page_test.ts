/**
 * The dev page in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`):
 * two tabs share a counter room, the server hot-reloads the service and both tabs reconnect.
 *
 * Needs `/usr/bin/chromium`: `apt-get install chromium` (`.ci/run` installs it).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Browser, Locator, Page } from "playwright-core";
import { DEV_PAGE_HTML, devPageFallback } from "../cli/dev_page.ts";
import { BinaryEchoServer } from "../examples/binary_echo.ts";
import { SharedCounterServer } from "../examples/counter.ts";
import {
  type ClientId,
  type JamsocketContext,
  MessageRecipient,
  type SimpleJamsocketService,
} from "../mod.ts";
import { launchChromium } from "./_chromium.ts";
import { startServer, type TestServer } from "./_server.ts";

/** The longest a test waits for one thing to show up on a page, in ms. */
const WAIT_MS = 5000;

/** The counter after a hot reload: same commands, different words. */
class CountIsNowServer implements SimpleJamsocketService {
  #value = 0;

  message(_client: ClientId, message: string, ctx: JamsocketContext): void {
    if (message === "increment") this.#value++;
    ctx.sendMessage(MessageRecipient.Broadcast, `count is now ${this.#value}`);
  }
}

/** A browser tab on the dev page, which records uncaught errors and off-server requests. */
interface DevTab {
  readonly page: Page;
  readonly problems: string[];
}

async function openDevPage(browser: Browser, server: TestServer, room: string): Promise<DevTab> {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    if (!request.url().startsWith(`${server.http}/`)) problems.push(`request: ${request.url()}`);
  });
  await page.goto(`${server.http}/?room=${encodeURIComponent(room)}`);
  return { page, problems };
}

async function connect({ page }: DevTab): Promise<void> {
  await page.click("#connect");
  await waitForState(page, "open");
}

async function waitForState(page: Page, state: "connecting" | "open" | "closed"): Promise<void> {
  await waitOrShowLog(page, page.locator(`#status[data-state="${state}"]`), `status ${state}`);
}

async function send({ page }: DevTab, text: string): Promise<void> {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

async function sendBytes({ page }: DevTab, bytes: string): Promise<void> {
  await page.fill("#bytes", bytes);
  await page.click("#send-bytes");
}

/** Wait for a log entry of `kind` whose text is exactly `text`. */
async function waitForEntry({ page }: DevTab, kind: string, text: string): Promise<void> {
  const entry = page.locator(`#log li[data-kind="${kind}"]`).filter({
    has: page.locator(".text", { hasText: new RegExp(`^${RegExp.escape(text)}$`) }),
  });
  await waitOrShowLog(page, entry.first(), `a ${kind} entry "${text}"`);
}

/** Wait for `locator` to show; on timeout, fail with the page's log. */
async function waitOrShowLog(page: Page, locator: Locator, what: string): Promise<void> {
  try {
    await locator.waitFor({ timeout: WAIT_MS });
  } catch (error) {
    const log = await page.locator("#log li").allInnerTexts();
    throw new Error(
      `Timed out after ${WAIT_MS} ms waiting for ${what}; the page's log:\n${log.join("\n")}`,
      { cause: error },
    );
  }
}

async function entryTexts({ page }: DevTab, kind: string): Promise<string[]> {
  return await page.locator(`#log li[data-kind="${kind}"] .text`).allTextContents();
}

Deno.test("devPageFallback answers GET and HEAD of / and /index.html, 404 otherwise", async () => {
  const get = devPageFallback(new Request("http://localhost/"));
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await get.text(), DEV_PAGE_HTML);
  const index = devPageFallback(new Request("http://localhost/index.html?room=a"));
  assert.equal(await index.text(), DEV_PAGE_HTML);
  const head = devPageFallback(new Request("http://localhost/", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  for (const [method, path] of [["GET", "/nope"], ["GET", "/index.htm"], ["POST", "/"]]) {
    const response = devPageFallback(new Request(`http://localhost${path}`, { method }));
    assert.equal(response.status, 404, `${method} ${path}`);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await response.text(), "Not found");
  }
});

Deno.test("DEV_PAGE_HTML loads nothing from elsewhere", () => {
  assert.doesNotMatch(DEV_PAGE_HTML, /(src|href)="(?!data:)/);
  assert.doesNotMatch(DEV_PAGE_HTML, /https?:\/\//);
  assert.doesNotMatch(DEV_PAGE_HTML, /innerHTML/);
});

Deno.test("dev page: two tabs share a room and reconnect after a hot reload (1012)", async () => {
  await using server = startServer(SharedCounterServer, { fallback: devPageFallback });
  const browser = await launchChromium();
  try {
    const a = await openDevPage(browser, server, "browser");
    const b = await openDevPage(browser, server, "browser");
    assert.equal(await a.page.inputValue("#room"), "browser");
    await connect(a);
    await connect(b);
    await waitForEntry(a, "open", `connected to ${server.ws("browser")}`);

    await send(a, "increment");
    await waitForEntry(a, "sent", "increment");
    await waitForEntry(a, "received", "new value: 1");
    await waitForEntry(b, "received", "new value: 1");
    await send(b, "increment");
    await waitForEntry(a, "received", "new value: 2");
    await waitForEntry(b, "received", "new value: 2");

    await server.server.handler.replaceService(CountIsNowServer);
    for (const tab of [a, b]) {
      await waitForEntry(tab, "closed", "code 1012: Service restart");
      await waitForEntry(
        tab,
        "restart",
        "Server restarted the room (1012: Service restart) — reconnecting…",
      );
    }
    // Both tabs reconnect by themselves: nobody clicks Connect again.
    await waitForState(a.page, "open");
    await waitForState(b.page, "open");
    assert.equal((await entryTexts(a, "open")).length, 2);
    assert.equal((await entryTexts(b, "open")).length, 2);

    await send(a, "increment");
    await waitForEntry(a, "received", "count is now 1");
    await waitForEntry(b, "received", "count is now 1");

    // Any other close is final: the user connects again.
    await a.page.click("#connect");
    await waitForState(a.page, "closed");
    await waitForEntry(a, "closed", "code 1000: Disconnected by the user");
    assert.equal(await a.page.textContent("#connect"), "Connect");

    const time = await a.page.locator("#log li time").first().textContent();
    assert.match(time ?? "", /^\d\d:\d\d:\d\d\.\d\d\d$/);
    assert.deepEqual([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
  }
});

Deno.test("dev page: sends bytes, shows binary frames, escapes text", async () => {
  await using server = startServer(BinaryEchoServer, { fallback: devPageFallback });
  const browser = await launchChromium();
  try {
    const tab = await openDevPage(browser, server, "bytes");
    await connect(tab);

    await sendBytes(tab, "1 2 255");
    await waitForEntry(tab, "sent-binary", "[1, 2, 255]");
    await waitForEntry(tab, "received", "Received binary data: [1, 2, 255]");
    await sendBytes(tab, "0a 0b ff");
    await waitForEntry(tab, "received", "Received binary data: [10, 11, 255]");

    await send(tab, "<b>hi</b>");
    await waitForEntry(tab, "sent", "<b>hi</b>");
    await waitForEntry(tab, "binary", "[60, 98, 62, 104, 105, 60, 47, 98, 62]");
    assert.equal(await tab.page.locator("#log b").count(), 0);

    await sendBytes(tab, "1 2 256");
    await waitForEntry(tab, "error", 'Cannot send bytes: "256" is larger than 255');
    assert.equal(await tab.page.getAttribute("#bytes", "aria-invalid"), "true");
    assert.deepEqual(tab.problems, []);
  } finally {
    await browser.close();
  }
});
