/**
 * The dev page in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`),
 * served by a real `jamsocket dev` on a TypeScript project in a temp folder: clients side by side,
 * ids, JSON, the room list, a failed build's banner, a hot reload, a crash, a server restart.
 *
 * Screenshots of each state go to `tests/screenshots/dev_page/` (gitignored; `DEV_PAGE_SHOTS`
 * chooses another folder) for a reviewer to look at.
 *
 * Needs `/usr/bin/chromium`: `apt-get install chromium` (`.ci/run` installs it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { DEV_PAGE_HTML, devPageFallback } from "../cli/dev_page.ts";
import { launchChromium } from "./_chromium.ts";
import { type CliProcess, startCli } from "./_cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SHOTS = Deno.env.get("DEV_PAGE_SHOTS") ?? join(ROOT, "tests/screenshots/dev_page");
/** The longest a test waits for one thing on a page, in ms; a build (the first one type-checks
 * on a cold cache) gets `BUILD_MS`. */
const WAIT_MS = 5000;
const BUILD_MS = 30_000;

/** A chat: greets each client with its id, broadcasts JSON; room "doomed" cannot start. */
const CHAT = `import type { JamsocketContext } from "${join(ROOT, "mod.ts")}";

export default class Chat {
  constructor(roomId: string) {
    if (roomId === "doomed") throw new Error("this room cannot start");
  }
  connect(client: number, ctx: JamsocketContext) {
    ctx.sendMessage(client, \`User \${client} connected.\`);
  }
  message(client: number, text: string, ctx: JamsocketContext) {
    ctx.sendMessage(0, JSON.stringify({ from: client, text }));
  }
}
`;

/** A project folder with `service.ts`, `jamsocket dev` on it, and a browser. */
interface DevSession {
  readonly dir: string;
  cli: CliProcess;
  readonly browser: Browser;
}

async function withDev(service: string, fn: (session: DevSession) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-dev-page-" });
  await Deno.writeTextFile(join(dir, "service.ts"), service);
  await Deno.mkdir(SHOTS, { recursive: true });
  const session: DevSession = {
    dir,
    cli: await startCli(["dev", "."], { cwd: dir }),
    browser: await launchChromium(),
  };
  try {
    await fn(session);
  } finally {
    await session.browser.close();
    assert.equal((await session.cli.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
}

/** The dev page in a tab, which records uncaught errors and requests off its server. */
interface DevTab {
  readonly page: Page;
  readonly problems: string[];
}

async function openDevPage(browser: Browser, port: number, room = "lobby"): Promise<DevTab> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(WAIT_MS);
  const problems: string[] = [];
  const origin = `http://127.0.0.1:${port}`;
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    if (!request.url().startsWith(`${origin}/`)) problems.push(`request: ${request.url()}`);
  });
  await page.goto(`${origin}/?room=${encodeURIComponent(room)}`);
  await waitOrShowLog(page, page.locator('#server-status[data-state="live"]'), "the event stream");
  return { page, problems };
}

function panel({ page }: DevTab, n: number): Locator {
  return page.locator(`.panel[data-panel="${n}"]`);
}

function part(tab: DevTab, n: number, name: string): Locator {
  return panel(tab, n).locator(`[data-part="${name}"]`);
}

async function addClient(tab: DevTab, room?: string): Promise<void> {
  if (room !== undefined) await tab.page.fill("#new-room", room);
  await tab.page.click("#add-client");
}

async function waitForState(tab: DevTab, n: number, state: string, ms = WAIT_MS): Promise<void> {
  await waitOrShowLog(
    tab.page,
    tab.page.locator(`.panel[data-panel="${n}"][data-state="${state}"]`),
    `client ${n} ${state}`,
    ms,
  );
}

async function send(tab: DevTab, n: number, text: string): Promise<void> {
  await part(tab, n, "text").fill(text);
  await part(tab, n, "text").press("Enter");
}

/** Wait for an entry of `kind` in client `n`'s log whose text is exactly `text`. */
async function waitForEntry(
  tab: DevTab,
  n: number,
  kind: string,
  text: string | RegExp,
  ms = WAIT_MS,
): Promise<Locator> {
  const exact = typeof text === "string" ? new RegExp(`^${RegExp.escape(text)}$`) : text;
  const entry = part(tab, n, "log").locator(`li[data-kind="${kind}"]`).filter({
    has: tab.page.locator(".text", { hasText: exact }),
  }).last();
  await waitOrShowLog(tab.page, entry, `a ${kind} entry ${exact} for client ${n}`, ms);
  return entry;
}

/** Wait for `locator` to show (or hide); on timeout, fail with every client's log. */
async function waitOrShowLog(
  page: Page,
  locator: Locator,
  what: string,
  ms = WAIT_MS,
  state: "visible" | "hidden" = "visible",
): Promise<void> {
  try {
    await locator.waitFor({ timeout: ms, state });
  } catch (error) {
    const logs = await page.locator(".panel").allInnerTexts();
    throw new Error(
      `Timed out after ${ms} ms waiting for ${what}; the page's clients:\n${logs.join("\n")}`,
      { cause: error },
    );
  }
}

async function shot({ page }: DevTab, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function edit(dir: string, from: string, to: string): Promise<void> {
  const path = join(dir, "service.ts");
  const text = await Deno.readTextFile(path);
  assert.ok(text.includes(from), `service.ts does not contain ${from}`);
  await Deno.writeTextFile(path, text.replace(from, to));
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
  assert.match(DEV_PAGE_HTML, /from "\/_jamsocket\/client\.js"/);
});

Deno.test("dev page: clients side by side, ids, JSON, rooms, a failed build's banner, a reload, a crash", async () => {
  await withDev(CHAT, async ({ dir, cli, browser }) => {
    const tab = await openDevPage(browser, cli.port);
    await waitOrShowLog(
      tab.page,
      tab.page.locator('#build-status[data-state="built"]'),
      "build ok",
      BUILD_MS,
    );

    // The same room twice: each client gets its id from the service, a broadcast reaches both.
    await addClient(tab);
    await waitForState(tab, 1, "open");
    await addClient(tab);
    await waitForState(tab, 2, "open");
    await waitForEntry(tab, 1, "received", "User 1 connected.");
    assert.equal(await part(tab, 1, "id").textContent(), "client id 1");
    assert.equal(await part(tab, 2, "id").textContent(), "client id 2");
    await send(tab, 1, "hello");
    await waitForEntry(tab, 1, "sent", "hello");
    const pretty = '{\n  "from": 1,\n  "text": "hello"\n}';
    for (const n of [1, 2]) {
      const entry = await waitForEntry(tab, n, "received", pretty);
      assert.equal(await entry.getAttribute("data-format"), "json");
    }

    // The live room list: the room, its clients, and which of them are this page's.
    const lobby = tab.page.locator('#rooms li[data-room="lobby"]');
    await waitOrShowLog(
      tab.page,
      lobby.locator(".room-clients", { hasText: /^2 clients$/ }),
      "2 clients",
    );
    assert.deepEqual(await lobby.locator(".chip").allTextContents(), [
      "Client A · id 1",
      "Client B · id 2",
    ]);

    // A connected client's room field is disabled, and looks it.
    const style = (locator: Locator) =>
      locator.evaluate((input) => {
        // Runs in the page, where getComputedStyle exists (Deno's types have no DOM).
        const view = globalThis as unknown as {
          getComputedStyle(element: unknown): Record<string, string>;
        };
        const css = view.getComputedStyle(input);
        return [css.backgroundColor, css.borderStyle, css.cursor, css.color];
      });
    assert.equal(await part(tab, 1, "room").isDisabled(), true);
    const [disabled, enabled] = [
      await style(part(tab, 1, "room")),
      await style(tab.page.locator("#new-room")),
    ];
    assert.equal(disabled[1], "dashed");
    assert.equal(disabled[2], "not-allowed");
    assert.notEqual(disabled[0], enabled[0], "background");
    assert.notEqual(disabled[3], enabled[3], "text colour");
    await shot(tab, "1-two-clients-one-room");

    // A type error: the banner shows the compiler's output; the last good build keeps serving.
    await edit(dir, "ctx.sendMessage(0,", "ctx.sendMesage(0,");
    const banner = tab.page.locator("#build-banner");
    await waitOrShowLog(
      tab.page,
      banner.and(tab.page.locator(":not([hidden])")),
      "the banner",
      BUILD_MS,
    );
    assert.equal(
      await tab.page.textContent("#build-headline"),
      "service.ts:11:9: Property 'sendMesage' does not exist on type 'JamsocketContext'. Did you mean 'sendMessage'? (TS2551)",
    );
    assert.match(
      await tab.page.textContent("#build-output") ?? "",
      /TS2551 \[ERROR\][\s\S]*at service\.ts:11:9/,
    );
    assert.match(
      await tab.page.textContent("#build-note") ?? "",
      /^The last good build keeps serving/,
    );
    assert.equal(await tab.page.getAttribute("#build-status", "data-state"), "failed");
    await send(tab, 2, "still here");
    await waitForEntry(tab, 1, "received", '{\n  "from": 2,\n  "text": "still here"\n}');
    await shot(tab, "2-failed-build-banner");
    await tab.page.emulateMedia({ colorScheme: "dark" });
    await shot(tab, "2b-failed-build-banner-dark");
    await tab.page.emulateMedia({ colorScheme: "light" });

    // The fix: the banner goes, both clients restart (1012) and reconnect by themselves.
    await edit(dir, "ctx.sendMesage(0,", "ctx.sendMessage(0,");
    await waitOrShowLog(tab.page, banner, "the banner gone", BUILD_MS, "hidden");
    for (const n of [1, 2]) {
      await waitForEntry(
        tab,
        n,
        "restart",
        "The service was reloaded (1012: Service restart); reconnecting…",
        BUILD_MS,
      );
      await waitForEntry(tab, n, "open", /^reconnected to ws:/);
      await waitForState(tab, n, "open");
    }
    await shot(tab, "3-reloaded");

    // A room whose service cannot start: a crash, shown as an error with its reason.
    await addClient(tab, "doomed");
    await waitForState(tab, 3, "crashed");
    await waitForEntry(
      tab,
      3,
      "crash",
      'The room crashed (1011: Service constructor failed in room "doomed": Error: this room cannot start)',
    );
    assert.equal(
      await part(tab, 3, "room").isDisabled(),
      false,
      "a crashed client's room can change",
    );
    await shot(tab, "4-room-crashed");
    assert.deepEqual(tab.problems, []);
  });
});

Deno.test("dev page: a failed first build shows on the page, and its clients join once it is fixed", async () => {
  const broken = CHAT.replace("message(client: number,", "message(client: number");
  await withDev(broken, async ({ dir, cli, browser }) => {
    const tab = await openDevPage(browser, cli.port);
    await waitOrShowLog(
      tab.page,
      tab.page.locator('#build-status[data-state="failed"]'),
      "build failed",
      BUILD_MS,
    );
    assert.match(await tab.page.textContent("#build-headline") ?? "", /^service\.ts:10:\d+: /);
    assert.match(await tab.page.textContent("#build-note") ?? "", /^No good build yet/);
    await addClient(tab);
    await waitForState(tab, 1, "crashed");
    await waitForEntry(
      tab,
      1,
      "crash",
      /^The room crashed \(1011: No good build yet: service\.ts:10:\d+: /,
    );
    await shot(tab, "5-failed-first-build");

    await Deno.writeTextFile(join(dir, "service.ts"), CHAT);
    await waitForEntry(tab, 1, "info", "A good build arrived; reconnecting", BUILD_MS);
    await waitForState(tab, 1, "open");
    await waitForEntry(tab, 1, "received", "User 1 connected.");
    assert.equal(await tab.page.isHidden("#build-banner"), true);
    assert.deepEqual(tab.problems, []);
  });
});

Deno.test("dev page: clients reconnect by themselves after the dev server restarts", async () => {
  await withDev(CHAT, async (session) => {
    const tab = await openDevPage(session.browser, session.cli.port);
    await addClient(tab);
    await addClient(tab);
    await waitForState(tab, 2, "open");

    const port = session.cli.port;
    assert.equal((await session.cli.stop()).code, 0);
    for (const n of [1, 2]) {
      await waitForEntry(tab, n, "closed", "code 1001: Server shutting down");
      await waitForState(tab, n, "connecting");
    }
    await waitOrShowLog(
      tab.page,
      tab.page.locator('#server-status[data-state="down"]'),
      "server down",
    );
    await shot(tab, "6-server-down");

    session.cli = await startCli(["dev", "."], { cwd: session.dir, port });
    for (const n of [1, 2]) {
      await waitForEntry(tab, n, "open", /^reconnected to ws:/, BUILD_MS);
      await waitForState(tab, n, "open");
      await waitForEntry(tab, n, "info", "The dev server restarted");
    }
    await waitOrShowLog(
      tab.page,
      tab.page.locator('#server-status[data-state="live"]'),
      "server live",
    );
    for (const n of [1, 2]) {
      const failures = await part(tab, n, "log").locator('li[data-kind="info"] .text', {
        hasText: /^Cannot connect/,
      }).count();
      assert.ok(failures <= 1, `failed attempts are said once, not ${failures} times`);
    }
    await shot(tab, "7-server-back");
    assert.deepEqual(tab.problems, []);
  });
});

Deno.test("dev page: sends bytes, shows binary frames, escapes text", async () => {
  const echo = `export { BinaryEchoServer as default } from "${
    join(ROOT, "examples/binary_echo.ts")
  }";\n`;
  await withDev(echo, async ({ cli, browser }) => {
    const tab = await openDevPage(browser, cli.port, "bytes");
    await addClient(tab);
    await waitForState(tab, 1, "open");
    const sendBytes = async (bytes: string) => {
      await part(tab, 1, "bytes").fill(bytes);
      await part(tab, 1, "send-bytes").click();
    };
    await sendBytes("1 2 255");
    await waitForEntry(tab, 1, "sent-binary", "[1, 2, 255]");
    await waitForEntry(tab, 1, "received", "Received binary data: [1, 2, 255]");
    await sendBytes("0a 0b ff");
    await waitForEntry(tab, 1, "received", "Received binary data: [10, 11, 255]");

    await send(tab, 1, "<b>hi</b>");
    await waitForEntry(tab, 1, "sent", "<b>hi</b>");
    await waitForEntry(tab, 1, "binary", "[60, 98, 62, 104, 105, 60, 47, 98, 62]");
    assert.equal(await tab.page.locator(".panel-log b").count(), 0);

    await sendBytes("1 2 256");
    await waitForEntry(tab, 1, "error", 'Cannot send bytes: "256" is larger than 255');
    assert.equal(await part(tab, 1, "bytes").getAttribute("aria-invalid"), "true");

    const time = await part(tab, 1, "log").locator("li time").first().textContent();
    assert.match(time ?? "", /^\d\d:\d\d:\d\d\.\d\d\d$/);
    await shot(tab, "8-bytes");
    assert.deepEqual(tab.problems, []);
  });
});

Deno.test("jamsocket dev serves the client script and the event stream next to the page", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-dev-page-" });
  await Deno.writeTextFile(join(dir, "service.ts"), CHAT);
  const cli = await startCli(["dev", dir, "--no-watch"]);
  try {
    const script = await fetch(`http://127.0.0.1:${cli.port}/_jamsocket/client.js`);
    assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(await script.text(), /export \{[^}]*JamsocketClient/);
    const rooms = await fetch(`http://127.0.0.1:${cli.port}/rooms`);
    assert.deepEqual(await rooms.json(), { rooms: [] }, "dev lists rooms");
    const controller = new AbortController();
    const events = await fetch(`http://127.0.0.1:${cli.port}/_jamsocket/events`, {
      signal: controller.signal,
    });
    assert.equal(events.headers.get("content-type"), "text/event-stream");
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/event: rooms\n/.test(text)) text += (await reader.read()).value ?? "";
    assert.match(text, /^retry: 1000\nevent: hello\ndata: \{"session":"[0-9a-f-]{36}"\}\n\n/);
    assert.match(
      text,
      /event: build\ndata: \{"type":"built","generation":1,"summary":"Built TypeScript service/,
    );
    controller.abort();
    await reader.cancel().catch(() => {});
  } finally {
    assert.equal((await cli.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});
