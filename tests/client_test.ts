/**
 * `JamsocketClient` against real servers on 127.0.0.1: in-process ones, `jamsocket serve`
 * processes that are restarted or killed, and tiny servers that close with a chosen code.
 * Backoff is checked through injected timers and randomness instead of waiting.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type ClientTimers,
  JamsocketClient,
  JamsocketClientError,
  type JamsocketClientEventMap,
  type JamsocketClientOptions,
  JamsocketCloseEvent,
} from "../client/mod.ts";
import { loadWasmService } from "../wasm/host.ts";
import type { ClientId, JamsocketContext, SimpleJamsocketService } from "../service.ts";
import { WAIT_MS, withTimeout } from "./_client.ts";
import { type CliProcess, startCli } from "./_cli.ts";
import { startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";

const TRAP_IN_MESSAGE = new URL("./fixtures/trap_in_message.wasm", import.meta.url);
/** Reconnect quickly in tests that use real timers. */
const FAST: JamsocketClientOptions = { initialDelayMs: 20, maxDelayMs: 200 };

/** Every event of a client, as one line each, with bounded waits for the next ones. */
class EventLog {
  readonly lines: string[] = [];
  readonly events: Event[] = [];
  #watchers: { pattern: RegExp; from: number; resolve: (event: Event) => void }[] = [];

  constructor(client: JamsocketClient) {
    for (const type of ["open", "message", "close", "reconnecting"] as const) {
      client.addEventListener(type, (event) => this.#add(event));
    }
  }

  /** Lines of one kind (`message`, `close`, …), in order. */
  of(kind: keyof JamsocketClientEventMap): string[] {
    return this.lines.filter((line) => line.startsWith(`${kind} `) || line === kind);
  }

  /** The first event whose line matches `pattern`, at index `from` or later (past or future). */
  waitFor(pattern: RegExp, from = 0, ms = WAIT_MS): Promise<Event> {
    const index = this.lines.findIndex((line, i) => i >= from && pattern.test(line));
    if (index >= 0) return Promise.resolve(this.events[index]);
    return withTimeout(
      new Promise((resolve) => this.#watchers.push({ pattern, from, resolve })),
      ms,
      `an event matching ${pattern} (got:\n${this.lines.join("\n")})`,
    );
  }

  /** The final close event (the client will not reconnect). */
  async closed(ms = WAIT_MS): Promise<JamsocketCloseEvent> {
    return await this.waitFor(/^close .* final$/, 0, ms) as JamsocketCloseEvent;
  }

  #add(event: Event): void {
    const line = describe(event as JamsocketClientEventMap[keyof JamsocketClientEventMap]);
    this.lines.push(line);
    this.events.push(event);
    const index = this.lines.length - 1;
    this.#watchers = this.#watchers.filter((w) =>
      index < w.from || !w.pattern.test(line) || (w.resolve(event), false)
    );
  }
}

function describe(event: JamsocketClientEventMap[keyof JamsocketClientEventMap]): string {
  if (event instanceof JamsocketCloseEvent) {
    return `close ${event.code} ${event.reason} ${event.willReconnect ? "reconnect" : "final"}`;
  }
  if (event instanceof MessageEvent) {
    const data = event.data;
    return `message ${typeof data === "string" ? data : `bytes [${[...data].join(",")}]`}`;
  }
  if ("attempt" in event) {
    return `reconnecting ${event.attempt} ${event.delayMs} ms after ${event.code}`;
  }
  return event.reconnected ? "open reconnected" : "open";
}

/** Timers that fire only when the test says so, recording every delay asked for. */
class ManualTimers implements ClientTimers {
  readonly requested: number[] = [];
  readonly #pending = new Map<number, () => void>();
  #next = 1;

  setTimeout(callback: () => void, ms: number): number {
    this.requested.push(ms);
    const id = this.#next++;
    this.#pending.set(id, callback);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Run the one pending timer. */
  fire(): void {
    assert.equal(this.#pending.size, 1, "exactly one timer pending");
    const [[id, callback]] = this.#pending;
    this.#pending.delete(id);
    callback();
  }
}

/** A port nothing listens on (it was free a moment ago). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * A bare `Deno.serve` that closes the first connection to `/{code}` with that code (reason
 * `"bye {code}"`), and echoes on every later one.
 */
function closingServer(): { url(code: number): string; [Symbol.asyncDispose](): Promise<void> } {
  const seen = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const { socket, response } = Deno.upgradeWebSocket(request);
    const first = !seen.has(path);
    seen.add(path);
    socket.onopen = () => {
      if (first) socket.close(Number(path.slice(1)), `bye ${path.slice(1)}`);
    };
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  return {
    url: (code) => `ws://127.0.0.1:${server.addr.port}/${code}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A client and its event log. */
function open(
  url: string,
  options: JamsocketClientOptions = {},
): { client: JamsocketClient; log: EventLog } {
  const client = new JamsocketClient(url, options);
  return { client, log: new EventLog(client) };
}

/** Close `client` for good and wait for its final close event. */
async function closeClient(client: JamsocketClient, log: EventLog): Promise<void> {
  client.close();
  await log.closed();
}

/** A client of `port` where nothing listens (yet), on manual timers, without connect timeouts. */
function downClient(
  options: JamsocketClientOptions = {},
  port: number = freePort(),
): { client: JamsocketClient; log: EventLog; timers: ManualTimers } {
  const timers = new ManualTimers();
  const url = `ws://127.0.0.1:${port}/ws/down`;
  return { timers, ...open(url, { timers, connectTimeoutMs: 0, ...options }) };
}

/** Wait for reconnect attempts 1 to `count` to be scheduled, firing each but the last `held`. */
async function failAttempts(log: EventLog, timers: ManualTimers, count: number, held = 0) {
  for (let attempt = 1; attempt <= count; attempt++) {
    await log.waitFor(new RegExp(`^reconnecting ${attempt} `));
    if (attempt <= count - held) timers.fire();
  }
}

Deno.test("JamsocketClient.room builds the room URL from a server URL", async () => {
  const cases: [string, string, Record<string, string> | undefined, string][] = [
    ["http://127.0.0.1:9", "lobby", undefined, "ws://127.0.0.1:9/ws/lobby"],
    ["https://example.com/", "a b/c?#", undefined, "wss://example.com/ws/a%20b%2Fc%3F%23"],
    [
      "http://127.0.0.1:9/chat/",
      "é",
      { token: "t&1" },
      "ws://127.0.0.1:9/chat/ws/%C3%A9?token=t%261",
    ],
    [
      "ws://127.0.0.1:9/base?v=1#x",
      "1",
      { name: "ann" },
      "ws://127.0.0.1:9/base/ws/1?v=1&name=ann",
    ],
  ];
  for (const [base, room, query, expected] of cases) {
    // A timer that never fires: nothing connects twice.
    const client = JamsocketClient.room(base, room, { query, timers: new ManualTimers() });
    assert.equal(client.url, expected);
    await closeClient(client, new EventLog(client));
  }
  const direct = new JamsocketClient("http://127.0.0.1:9/ws/x#fragment", { maxAttempts: 0 });
  assert.equal(direct.url, "ws://127.0.0.1:9/ws/x");
  await closeClient(direct, new EventLog(direct));
});

Deno.test("JamsocketClient refuses bad URLs, room ids and options with one clear line", () => {
  assert.throws(() => new JamsocketClient("ftp://host/ws/a"), {
    name: "TypeError",
    message:
      'Invalid WebSocket URL "ftp://host/ws/a": the scheme must be ws:, wss:, http: or https:',
  });
  assert.throws(() => new JamsocketClient("/ws/a"), /Invalid WebSocket URL "\/ws\/a": not a URL/);
  assert.throws(() => JamsocketClient.room("http://host", ""), /Invalid room ID "": expected/);
  assert.throws(() => JamsocketClient.room("http://host", "a\nb"), /control characters/);
  assert.throws(() => JamsocketClient.room("http://host", "é".repeat(129)), /longer than 256/);
  assert.throws(() => new JamsocketClient("ws://host/ws/a", { maxAttempts: -1 }), {
    name: "RangeError",
    message:
      'Invalid JamsocketClient option "maxAttempts": expected a whole number ≥ 0 or Infinity, got -1',
  });
  assert.throws(
    () => new JamsocketClient("ws://host/ws/a", { initialDelayMs: Infinity }),
    /option "initialDelayMs": expected a finite number ≥ 0, got Infinity/,
  );
  assert.throws(
    () => new JamsocketClient("ws://host/ws/a", { backoffFactor: 0.5 }),
    /option "backoffFactor": expected a finite number ≥ 1, got 0.5/,
  );
  assert.throws(
    () => new JamsocketClient("ws://host/ws/a", { maxQueuedBytes: 1.5 }),
    /option "maxQueuedBytes"/,
  );
});

Deno.test("JamsocketClient exchanges text and bytes, and close() ends it with its code", async () => {
  await using server = startServer(recordingEcho());
  const { client, log } = open(server.ws("talk"));
  const onEvents: string[] = [];
  client.onopen = (event) => onEvents.push(`onopen ${event.reconnected}`);
  client.onmessage = (event) => onEvents.push(`onmessage ${typeof event.data}`);
  client.onclose = (event) => onEvents.push(`onclose ${event.code} ${event.willReconnect}`);
  assert.equal(client.readyState, JamsocketClient.CONNECTING);
  await log.waitFor(/^open$/);
  assert.equal(client.readyState, JamsocketClient.OPEN);

  client.send("héllo");
  client.send(new Uint8Array([1, 2, 255]));
  client.send(new Uint16Array([0x0201]).buffer);
  await log.waitFor(/^message bytes \[1,2\]$/);
  assert.deepEqual(log.of("message"), [
    "message héllo",
    "message bytes [1,2,255]",
    "message bytes [1,2]",
  ]);
  const binary = log.events.find((e) => e instanceof MessageEvent && typeof e.data !== "string");
  assert.ok((binary as MessageEvent).data instanceof Uint8Array);

  client.close(4000, "done here");
  assert.equal(client.readyState, JamsocketClient.CLOSING);
  const closed = await log.closed();
  assert.equal(closed.code, 4000);
  assert.equal(closed.reason, "done here");
  assert.equal(closed.wasClean, true);
  assert.equal(client.readyState, JamsocketClient.CLOSED);
  assert.deepEqual(log.of("reconnecting"), []);
  assert.deepEqual(onEvents, [
    "onopen false",
    "onmessage string",
    "onmessage object",
    "onmessage object",
    "onclose 4000 false",
  ]);
  assert.throws(() => client.send("late"), (error: unknown) => {
    assert.ok(error instanceof JamsocketClientError);
    assert.equal(error.kind, "closed");
    assert.equal(error.message, "Cannot send: the client is closed");
    return true;
  });
  assert.throws(() => client.send({} as string), /Cannot send/);
  assert.throws(() => client.close(1001), /Invalid close code 1001: expected 1000 or 3000–4999/);
});

Deno.test("JamsocketClient reconnects after a hot reload (1012) and sends what was queued, in order", async () => {
  await using server = startServer(recordingEcho());
  const { client, log } = open(server.ws("reload"), FAST);
  await log.waitFor(/^open$/);
  client.send("before");
  await log.waitFor(/^message before$/);

  client.addEventListener("reconnecting", () => {
    for (const text of ["q1", "q2", "q3"]) client.send(text);
    assert.equal(client.bufferedAmount, 6);
  }, { once: true });
  client.addEventListener("open", (event) => {
    if (event.reconnected) client.send("greeting from the open listener");
  });
  assert.equal(await server.server.handler.replaceService(recordingEcho()), 1);

  await log.waitFor(/^message q3$/);
  assert.deepEqual(log.lines, [
    "open",
    "message before",
    "close 1012 Service restart reconnect",
    log.of("reconnecting")[0],
    "open reconnected",
    "message greeting from the open listener",
    "message q1",
    "message q2",
    "message q3",
  ]);
  assert.match(log.of("reconnecting")[0], /^reconnecting 1 \d+ ms after 1012$/);
  assert.equal(client.bufferedAmount, 0);
  await closeClient(client, log);
});

Deno.test("JamsocketClient reconnects after its room crashes (1011) into a fresh room", async () => {
  await using server = startServer(await loadWasmService(TRAP_IN_MESSAGE));
  const { client, log } = open(server.ws("crashy"), FAST);
  await log.waitFor(/^message hello$/);
  client.send("trap");
  const closed = await log.waitFor(/^close 1011 /) as JamsocketCloseEvent;
  assert.equal(closed.willReconnect, true);
  assert.match(closed.reason, /unreachable/);
  await log.waitFor(/^open reconnected$/);
  await log.waitFor(/^message hello$/, log.lines.indexOf("open reconnected"));
  client.send("still here");
  await log.waitFor(/^message still here$/);
  await server.logger.waitFor(/Room "crashy" crashed/);
  await closeClient(client, log);
});

Deno.test("JamsocketClient reconnects on 1001, 1011, 1012 and 1013 from any server", async () => {
  await using server = closingServer();
  for (const code of [1001, 1011, 1012, 1013]) {
    const { client, log } = open(server.url(code), FAST);
    await log.waitFor(/^open reconnected$/);
    client.send(`after ${code}`);
    await log.waitFor(new RegExp(`^message after ${code}$`));
    assert.equal(log.lines[1], `close ${code} bye ${code} reconnect`);
    await closeClient(client, log);
  }
});

Deno.test("JamsocketClient ends for good on 1000, 1002, 1003, 1007, 1008 and 4xxx", async () => {
  await using server = closingServer();
  for (const code of [1000, 1002, 1003, 1007, 1008, 4000, 4403]) {
    const { client, log } = open(server.url(code), FAST);
    const closed = await log.closed();
    assert.deepEqual(log.lines, ["open", `close ${code} bye ${code} final`], `code ${code}`);
    assert.equal(closed.wasClean, true);
    assert.equal(client.readyState, JamsocketClient.CLOSED);
    assert.throws(() => client.send("x"), /the client is closed/);
  }
  // maxAttempts: 0 and custom codes.
  const never = open(server.url(1012).replace(/1012$/, "3012"), { maxAttempts: 0 });
  await never.log.closed();
  assert.deepEqual(never.log.lines, ["open", "close 3012 bye 3012 final"]);
  const custom = open(server.url(4001), { ...FAST, reconnectCodes: [4001] });
  await custom.log.waitFor(/^open reconnected$/);
  await closeClient(custom.client, custom.log);
});

Deno.test("JamsocketClient ends for good on 1009 after a frame over the server's limit", async () => {
  await using server = startServer(recordingEcho(), { maxMessageBytes: 16 });
  const { client, log } = open(server.ws("big"), FAST);
  await log.waitFor(/^open$/);
  client.send("x".repeat(16));
  await log.waitFor(/^message x{16}$/);
  client.send("x".repeat(17));
  const closed = await log.closed();
  assert.equal(closed.code, 1009);
  assert.deepEqual(log.of("reconnecting"), []);
  assert.equal(log.of("open").length, 1);
  assert.equal(client.readyState, JamsocketClient.CLOSED);
});

Deno.test("JamsocketClient backs off exponentially with full jitter, capped, up to maxAttempts", async () => {
  const randoms = [0.5, 1, 0, 0.25, 0.75, 0.5];
  const { client, log, timers } = downClient({
    random: () => randoms.shift()!,
    initialDelayMs: 100,
    maxDelayMs: 1000,
    maxAttempts: 6,
  });
  const states: number[] = [];
  client.addEventListener("reconnecting", () => states.push(client.readyState));
  await failAttempts(log, timers, 6);
  const closed = await log.closed();
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  // Caps 100, 200, 400, 800, 1000, 1000, each scaled by its random number.
  assert.deepEqual(timers.requested, [50, 200, 0, 200, 750, 500]);
  assert.deepEqual(log.of("close").map((line) => line.split(" ").at(-1)), [
    ...Array(6).fill("reconnect"),
    "final",
  ]);
  assert.equal(timers.pending, 0);
  assert.deepEqual(states, Array(6).fill(JamsocketClient.CONNECTING));
});

Deno.test("JamsocketClient's default backoff: caps of 250 ms doubling to 10 s", async () => {
  const { client, log, timers } = downClient({ random: () => 1, maxAttempts: 8 });
  await failAttempts(log, timers, 8);
  await log.closed();
  assert.deepEqual(timers.requested, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(client.readyState, JamsocketClient.CLOSED);
});

Deno.test("JamsocketClient: a connection that opens resets the backoff", async () => {
  const port = freePort();
  const { client, log, timers } = downClient({ random: () => 1, initialDelayMs: 100 }, port);
  await failAttempts(log, timers, 3, 1);
  {
    await using _server = startServer(recordingEcho(), { port });
    timers.fire();
    await log.waitFor(/^open$/);
    client.send("up");
    await log.waitFor(/^message up$/);
  }
  // The server shut down (1001): the count starts again at attempt 1, with the first cap.
  await log.waitFor(/^reconnecting 1 100 ms after 1001$/, log.lines.indexOf("message up"));
  assert.deepEqual(timers.requested, [100, 200, 400, 100]);
  await closeClient(client, log);
  assert.equal(timers.pending, 0);
});

Deno.test("JamsocketClient: close() while waiting to reconnect stops reconnecting", async () => {
  const { client, log, timers } = downClient();
  client.send("dropped");
  await failAttempts(log, timers, 1, 1);
  assert.equal(timers.pending, 1);
  client.close(4001, "gave up");
  assert.equal(client.readyState, JamsocketClient.CLOSED);
  assert.equal(timers.pending, 0);
  assert.equal(client.bufferedAmount, 0);
  const closed = await log.closed();
  assert.deepEqual([closed.code, closed.reason, closed.willReconnect], [4001, "gave up", false]);
  client.close(); // a second close does nothing
  assert.equal(log.of("close").length, 2);
});

Deno.test("JamsocketClient bounds its send queue by count and by bytes", async () => {
  const port = freePort();
  const { client, log, timers } = downClient({ maxQueuedMessages: 4, maxQueuedBytes: 10 }, port);
  client.send("12345");
  client.send("é"); // 2 bytes in UTF-8
  assert.throws(() => client.send("abcd"), (error: unknown) => {
    assert.ok(error instanceof JamsocketClientError);
    assert.equal(error.kind, "queue-full");
    assert.equal(
      error.message,
      "Cannot queue a message of 4 bytes while connecting: 7 bytes are queued and " +
        "maxQueuedBytes is 10",
    );
    return true;
  });
  const bytes = new Uint8Array([7, 8, 9]);
  client.send(bytes);
  bytes[0] = 0; // the queue holds a copy
  client.send("");
  assert.throws(
    () => client.send(""),
    /Cannot queue a message while connecting: 4 messages are queued, the most maxQueuedMessages allows/,
  );
  assert.equal(client.bufferedAmount, 10);

  await failAttempts(log, timers, 1, 1);
  await using server = startServer(recordingEcho(), { port });
  timers.fire();
  await log.waitFor(/^message $/);
  assert.deepEqual(log.of("message"), [
    "message 12345",
    "message é",
    "message bytes [7,8,9]",
    "message ",
  ]);
  await closeClient(client, log);

  const none = open(server.ws("no-queue"), { maxQueuedMessages: 0 });
  assert.throws(() => none.client.send("x"), /maxQueuedMessages/);
  await none.log.waitFor(/^open$/);
  none.client.send("x"); // open: no queue involved
  await none.log.waitFor(/^message x$/);
  await closeClient(none.client, none.log);
});

Deno.test("JamsocketClient gives up on a connection attempt after connectTimeoutMs", async () => {
  // A server that accepts TCP connections and never answers the upgrade.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    const { client, log } = open(`ws://127.0.0.1:${listener.addr.port}/ws/silent`, {
      connectTimeoutMs: 150,
      initialDelayMs: 10,
      maxAttempts: 1,
    });
    const closed = await log.closed();
    assert.deepEqual(log.lines, [
      "close 1006 Connection attempt timed out after 150 ms reconnect",
      log.of("reconnecting")[0],
      "close 1006 Connection attempt timed out after 150 ms final",
    ]);
    assert.equal(closed.wasClean, false);
    assert.equal(client.readyState, JamsocketClient.CLOSED);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});

/**
 * Serve `examples/echo.ts` in a `jamsocket serve` process, join `room`, end the process with
 * `stop`, send `whileDown` while no server runs, start a new process on the same port, and
 * exchange a message again. Resolves with the client's log and the close event of the loss.
 */
async function acrossRestart(
  room: string,
  stop: (cli: CliProcess) => Promise<void>,
  whileDown: string[],
): Promise<{ log: EventLog; lost: JamsocketCloseEvent }> {
  const first = await startCli(["serve", "examples/echo.ts"]);
  const { client, log } = open(`ws://127.0.0.1:${first.port}/ws/${room}`, FAST);
  try {
    await log.waitFor(/^message User 1 connected\.$/);
    client.send("before");
    await log.waitFor(/^message User 1 sent 'before'$/);
    await stop(first);
    const lost = await log.waitFor(/^close /) as JamsocketCloseEvent;
    for (const text of whileDown) client.send(text);
    assert.equal(client.readyState, JamsocketClient.CONNECTING);

    const second = await startCli(["serve", "examples/echo.ts"], { port: first.port });
    try {
      const from = log.events.indexOf(lost);
      await log.waitFor(/^open reconnected$/, from, 15_000);
      await log.waitFor(/^message User 1 connected\.$/, from);
      client.send("after");
      await log.waitFor(/^message User 1 sent 'after'$/, from);
      await closeClient(client, log);
      return { log, lost };
    } finally {
      await second.stop();
    }
  } finally {
    client.close();
    await first.stop();
  }
}

Deno.test("JamsocketClient comes back after the server process restarts on the same port (1001)", async () => {
  const { log, lost } = await acrossRestart("restart", async (cli) => {
    assert.equal((await cli.stop()).code, 0);
  }, []);
  assert.deepEqual(
    [lost.code, lost.reason, lost.wasClean, lost.willReconnect],
    [1001, "Server shutting down", true, true],
  );
  assert.deepEqual(log.of("message").slice(-2), [
    "message User 1 connected.",
    "message User 1 sent 'after'",
  ]);
});

Deno.test("JamsocketClient survives network loss: the server is killed (1006) and comes back", async () => {
  const { log, lost } = await acrossRestart("loss", async (cli) => {
    cli.process.kill("SIGKILL");
    await cli.process.status;
  }, ["q1", "q2"]);
  assert.deepEqual([lost.code, lost.wasClean, lost.willReconnect], [1006, false, true]);
  // The queue went out in order right after the new connection opened.
  assert.deepEqual(log.of("message").slice(-4), [
    "message User 1 connected.",
    "message User 1 sent 'q1'",
    "message User 1 sent 'q2'",
    "message User 1 sent 'after'",
  ]);
});

/** A service factory that throws for the first room; later rooms answer with a prefix. */
function crashOnce(): (roomId: string, ctx: JamsocketContext) => SimpleJamsocketService {
  let rooms = 0;
  return () => {
    if (rooms++ === 0) throw new Error("first room fails");
    return {
      message(client: ClientId, text: string, ctx: JamsocketContext) {
        ctx.sendMessage(client, `second room: ${text}`);
      },
    };
  };
}

Deno.test("JamsocketClient reconnects when a room's constructor throws (1011)", async () => {
  await using server = startServer(crashOnce());
  const { client, log } = open(server.ws("ctor"), FAST);
  await log.waitFor(/^close 1011 /);
  await log.waitFor(/^open reconnected$/);
  client.send("hi");
  await log.waitFor(/^message second room: hi$/);
  await closeClient(client, log);
});
