/**
 * The load generator: one process per run, separate from the server under test. It runs one
 * scenario against one server and prints one JSON line, a {@linkcode LoadResult}, on stdout.
 *
 * Every scenario checks what it receives: the counter's replies are `new value: N`, and in a room
 * every client must see N go up by exactly one per message, with no gap and no repeat, up to the
 * number of messages sent — a lost, duplicated or reordered message fails the run.
 *
 * ```sh
 * deno run -A bench/load.ts '{"target":{"protocol":"ws","port":8080,"pid":1234},"prefix":"x",
 *   "spec":{"kind":"echo","clients":50,"rooms":50,"warmupMs":500,"durationMs":2000}}'
 * ```
 *
 * @module
 */

import { type CloseInfo, type Conn, openConn, openMany, type Target } from "./client.ts";
import { type CpuTime, cpuTime, treeCpuTime, treeRssBytes } from "./proc.ts";
import type {
  ChurnSpec,
  ConnectSpec,
  EchoSpec,
  FanoutSpec,
  HogSpec,
  RoomsSpec,
  ScenarioSpec,
} from "./scenarios.ts";
import { Samples } from "./stats.ts";

/** What the runner asks of the load generator. */
export interface LoadRequest {
  /** The server under test. */
  readonly target: Target;
  /** The scenario and its size. */
  readonly spec: ScenarioSpec;
  /** A prefix for room ids, unique per run. */
  readonly prefix: string;
}

/** The load generator's answer: figures by key, or why the run failed. */
export type LoadResult =
  | {
    readonly ok: true;
    readonly metrics: Record<string, number>;
    readonly notes: string[];
  }
  | { readonly ok: false; readonly error: string };

/** Handshakes in flight at once when opening many connections. */
const OPEN_CONCURRENCY = 64;
const PREFIX = "new value: ";
const MiB = 1024 * 1024;

class ValidationError extends Error {
  override name = "ValidationError";
}

/** Counts mismatches; the first few are kept to explain the failure. */
class Violations {
  count = 0;
  readonly first: string[] = [];

  add(message: string): void {
    if (this.count++ < 5) this.first.push(message);
  }

  check(): void {
    if (this.count > 0) {
      throw new ValidationError(
        `${this.count} lost/reordered messages: ${this.first.join("; ")}`,
      );
    }
  }
}

function parseValue(text: string): number {
  return text.startsWith(PREFIX) ? Number(text.slice(PREFIX.length)) : NaN;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `done` every 5 ms; false if it is still not true after `timeoutMs`. */
async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** CPU time of the server's process tree and of this process, between two points. */
class CpuWindow {
  readonly #pid: number;
  #server: CpuTime = { user: 0, system: 0 };
  #self: CpuTime = { user: 0, system: 0 };
  #at = 0;
  /** Server CPU in the window, user + system, ms. */
  serverMs = 0;
  /** Server CPU in user space in the window, ms. */
  serverUserMs = 0;
  /** This process's CPU in the window, ms. */
  selfMs = 0;
  /** The window's length, ms. */
  wallMs = 0;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(): void {
    this.#server = treeCpuTime(this.#pid);
    this.#self = cpuTime(Deno.pid);
    this.#at = performance.now();
  }

  stop(): void {
    const server = treeCpuTime(this.#pid);
    const self = cpuTime(Deno.pid);
    this.serverUserMs = server.user - this.#server.user;
    this.serverMs = this.serverUserMs + server.system - this.#server.system;
    this.selfMs = self.user + self.system - this.#self.user - this.#self.system;
    this.wallMs = performance.now() - this.#at;
  }
}

/** Send one `increment` on a fresh connection and check the reply is `new value: 1`. */
function firstIncrement(
  conn: Conn,
  room: string,
  timeoutMs = 10_000,
): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(
    () =>
      reject(
        new ValidationError(
          `Room "${room}" did not answer within ${timeoutMs} ms`,
        ),
      ),
    timeoutMs,
  );
  conn.onText = (text) => {
    clearTimeout(timer);
    if (text === `${PREFIX}1`) resolve();
    else {reject(
        new ValidationError(
          `Room "${room}" answered "${text}", expected "${PREFIX}1"`,
        ),
      );}
  };
  conn.closed.then((info) => {
    clearTimeout(timer);
    reject(
      new ValidationError(
        `Room "${room}" closed (${info.code} ${info.reason})`,
      ),
    );
  });
  conn.send("increment");
  return promise;
}

async function roomCount(port: number): Promise<number> {
  using client = Deno.createHttpClient({});
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { client });
  const text = await response.text();
  const match = text.match(/^jamsocket_rooms (\d+)$/m);
  return match ? Number(match[1]) : NaN;
}

/**
 * Echo: every client loops send `increment` → await its reply. With several clients in a room a
 * reply cannot be told apart, so a send counts as answered once the room's value reaches the
 * number of sends made in that room so far (an upper bound on its latency).
 */
async function echo(
  target: Target,
  spec: EchoSpec,
  prefix: string,
): Promise<LoadResult> {
  const rooms = Array.from(
    { length: spec.rooms },
    (_, i) => ({ id: `${prefix}-e${i}`, sent: 0 }),
  );
  const conns = await openMany(
    spec.clients,
    OPEN_CONCURRENCY,
    (i) => openConn(target, rooms[i % spec.rooms].id),
  );
  const violations = new Violations();
  const latencies = new Samples();
  const lastSeen = new Array<number>(conns.length).fill(0);
  let running = true;
  let measuring = false;
  let outstanding = 0;
  const starters = conns.map((conn, i) => {
    const room = rooms[i % spec.rooms];
    let goal = 0;
    let sentAt = 0;
    let waiting = false;
    const send = () => {
      goal = ++room.sent;
      waiting = true;
      outstanding++;
      sentAt = performance.now();
      conn.send("increment");
    };
    conn.onText = (text) => {
      const value = parseValue(text);
      if (value !== lastSeen[i] + 1) {
        violations.add(`client ${i} got "${text}" after ${lastSeen[i]}`);
      }
      lastSeen[i] = value;
      if (!waiting || !(value >= goal)) return;
      waiting = false;
      outstanding--;
      if (measuring) latencies.add(performance.now() - sentAt);
      if (running) send();
    };
    return send;
  });
  // Several clients per room: give the server a moment to register every socket in its room.
  if (spec.clients > spec.rooms) await sleep(100);
  for (const start of starters) start();
  await sleep(spec.warmupMs);
  const cpu = new CpuWindow(target.pid);
  cpu.start();
  measuring = true;
  await sleep(spec.durationMs);
  measuring = false;
  cpu.stop();
  running = false;
  const drained = await waitUntil(
    () =>
      outstanding === 0 &&
      conns.every((_, i) => lastSeen[i] === rooms[i % spec.rooms].sent),
    10_000,
  );
  if (!drained) violations.add(`${outstanding} replies never arrived`);
  violations.check();
  const count = latencies.count;
  return {
    ok: true,
    metrics: {
      msgsPerS: count / (cpu.wallMs / 1000),
      p50Ms: latencies.percentile(50),
      p99Ms: latencies.percentile(99),
      p999Ms: latencies.percentile(99.9),
      maxMs: latencies.max(),
      serverUsPerMsg: cpu.serverMs * 1000 / count,
      serverUserUsPerMsg: cpu.serverUserMs * 1000 / count,
      serverCpuPct: cpu.serverMs / cpu.wallMs * 100,
      loadCpuPct: cpu.selfMs / cpu.wallMs * 100,
      loadUsPerMsg: cpu.selfMs * 1000 / count,
      messages: count,
    },
    notes: [],
  };
}

/**
 * Fanout: M clients in one room; the first sends a burst of `increment`s back to back; every
 * client must receive every value in order. Measured from the first send until the last client
 * has the last value.
 */
async function fanout(
  target: Target,
  spec: FanoutSpec,
  prefix: string,
): Promise<LoadResult> {
  const room = `${prefix}-fanout`;
  const conns = await openMany(
    spec.clients,
    OPEN_CONCURRENCY,
    () => openConn(target, room),
  );
  const violations = new Violations();
  const lastSeen = new Array<number>(conns.length).fill(-1);
  let goal = Infinity;
  let reached = 0;
  let allReached: () => void = () => {};
  conns.forEach((conn, i) => {
    conn.onText = (text) => {
      const value = parseValue(text);
      if (lastSeen[i] !== -1 && value !== lastSeen[i] + 1) {
        violations.add(`client ${i} got "${text}" after ${lastSeen[i]}`);
      }
      lastSeen[i] = value;
      if (value === goal && ++reached === conns.length) allReached();
    };
  });
  const sender = conns[0];
  // Sync: every client must be in the room's broadcast list before the burst.
  const synced = await waitUntil(() => {
    if (lastSeen.some((value) => value === -1)) sender.send("increment");
    return lastSeen.every((value) => value !== -1 && value === lastSeen[0]);
  }, 10_000);
  if (!synced) {
    throw new ValidationError(
      "Not every client joined the broadcast within 10 s",
    );
  }
  await sleep(50);
  const burst = async (count: number) => {
    const base = lastSeen[0];
    reached = 0;
    const done = new Promise<void>((resolve) => allReached = resolve);
    goal = base + count;
    const started = performance.now();
    for (let i = 0; i < count; i++) sender.send("increment");
    const timeout = sleep(30_000).then(() => "timeout");
    if (await Promise.race([done, timeout]) === "timeout") {
      const behind = conns.length - reached;
      throw new ValidationError(
        `${behind} clients never got value ${goal} (30 s)`,
      );
    }
    return performance.now() - started;
  };
  await burst(spec.warmupMessages);
  await sleep(100);
  const cpu = new CpuWindow(target.pid);
  cpu.start();
  const elapsed = await burst(spec.messages);
  cpu.stop();
  violations.check();
  const deliveries = spec.messages * conns.length;
  return {
    ok: true,
    metrics: {
      deliveriesPerS: deliveries / (elapsed / 1000),
      lastMs: elapsed,
      serverUsPerDelivery: cpu.serverMs * 1000 / deliveries,
      serverUserUsPerDelivery: cpu.serverUserMs * 1000 / deliveries,
      serverCpuPct: cpu.serverMs / cpu.wallMs * 100,
      loadCpuPct: cpu.selfMs / cpu.wallMs * 100,
      loadUsPerDelivery: cpu.selfMs * 1000 / deliveries,
    },
    notes: [],
  };
}

/** Open and close a few connections so the server's code paths are warm before a baseline. */
async function warmConnections(target: Target, prefix: string): Promise<void> {
  const conns = await openMany(32, 16, async (i) => {
    const room = `${prefix}-warm${i}`;
    const conn = await openConn(target, room);
    await firstIncrement(conn, room);
    return conn;
  });
  for (const conn of conns) conn.close();
  await Promise.all(conns.map((conn) => conn.closed));
  await sleep(300);
}

/** Open `count` connections with `open`, measuring the rate and the server memory each adds. */
async function openAndMeasure(
  target: Target,
  prefix: string,
  count: number,
  settleMs: number,
  open: (i: number) => Promise<unknown>,
): Promise<{ perS: number; kibEach: number; rssBeforeMiB: number; rssAfterMiB: number }> {
  await warmConnections(target, prefix);
  const before = treeRssBytes(target.pid);
  const started = performance.now();
  await openMany(count, OPEN_CONCURRENCY, open);
  const elapsed = performance.now() - started;
  await sleep(settleMs);
  const after = treeRssBytes(target.pid);
  return {
    perS: count / (elapsed / 1000),
    kibEach: (after - before) / 1024 / count,
    rssBeforeMiB: before / MiB,
    rssAfterMiB: after / MiB,
  };
}

/** Connect: N idle connections across R rooms; handshake rate and memory per connection. */
async function connect(
  target: Target,
  spec: ConnectSpec,
  prefix: string,
): Promise<LoadResult> {
  const { perS, kibEach, ...rss } = await openAndMeasure(
    target,
    prefix,
    spec.connections,
    spec.settleMs,
    (i) => openConn(target, `${prefix}-c${i % spec.rooms}`),
  );
  return { ok: true, metrics: { connsPerS: perS, kibPerConn: kibEach, ...rss }, notes: [] };
}

/** Rooms: one client per room, each sends one message (so the room is live); memory per room. */
async function rooms(
  target: Target,
  spec: RoomsSpec,
  prefix: string,
): Promise<LoadResult> {
  const { perS, kibEach, ...rss } = await openAndMeasure(
    target,
    prefix,
    spec.rooms,
    spec.settleMs,
    async (i) => {
      const room = `${prefix}-r${i}`;
      const conn = await openConn(target, room);
      await firstIncrement(conn, room);
      return conn;
    },
  );
  return {
    ok: true,
    metrics: { rooms: spec.rooms, roomsPerS: perS, kibPerRoom: kibEach, ...rss },
    notes: [],
  };
}

/**
 * Churn: workers loop connect → `increment` → await `new value: 1` → close → await the close,
 * each time in a new room. Two measured phases of equal length follow a warm-up; the server's
 * memory is read before, between and after them. Allocators and V8 keep their high-water marks,
 * so the first phase may raise memory for good; a leak shows as growth in the second phase too.
 */
async function churn(
  target: Target,
  spec: ChurnSpec,
  prefix: string,
): Promise<LoadResult> {
  const phase = async (label: string, ms: number) => {
    let ops = 0;
    const started = performance.now();
    const deadline = started + ms;
    await Promise.all(
      Array.from({ length: spec.workers }, async (_, worker) => {
        for (let i = 0; performance.now() < deadline; i++) {
          const room = `${prefix}-${label}${worker}-${i}`;
          const conn = await openConn(target, room);
          await firstIncrement(conn, room);
          conn.close();
          await conn.closed;
          ops++;
        }
      }),
    );
    const elapsed = performance.now() - started;
    // Rooms close as their last client leaves; wait (at most 3 s) until every one has.
    let rooms = await roomCount(target.port);
    const waitStart = performance.now();
    while (rooms !== 0 && performance.now() - waitStart < 3000) {
      await sleep(50);
      rooms = await roomCount(target.port);
    }
    await sleep(300);
    return { ops, elapsed, rooms, rss: treeRssBytes(target.pid) };
  };
  const warm = await phase("w", spec.warmupMs);
  const first = await phase("a", spec.durationMs);
  const second = await phase("b", spec.durationMs);
  const rooms = second.rooms;
  return {
    ok: true,
    metrics: {
      opsPerS: (first.ops + second.ops) /
        ((first.elapsed + second.elapsed) / 1000),
      rssBeforeMiB: warm.rss / MiB,
      rssMidMiB: first.rss / MiB,
      rssAfterMiB: second.rss / MiB,
      secondPhaseKiBPer1kOps: (second.rss - first.rss) / 1024 / second.ops *
        1000,
      roomsAfter: rooms,
      ops: first.ops + second.ops,
    },
    notes: rooms === 0 ? [] : [`${rooms} rooms still alive 3 s after the last close`],
  };
}

/**
 * Hog: a room whose guest spins forever on "spin" (room hosts, CPU limit), and a healthy room
 * on the other host, echoing in a closed loop before and during the spin. Reports the healthy
 * room's latency and when the hog's room was closed (1011 expected).
 */
async function hog(
  target: Target,
  spec: HogSpec,
  prefix: string,
): Promise<LoadResult> {
  // Connect the hog first and the healthy room second: the pool puts each new room on the host
  // with the fewest rooms, so they land on different hosts.
  const hogConn = await openConn(target, `${prefix}-hog`);
  const healthy = await openConn(target, `${prefix}-healthy`);
  let waiting: ((text: string) => void) | undefined;
  healthy.onText = (text) => waiting?.(text);
  hogConn.onText = (text) => waiting?.(text);
  const roundTrip = async (conn: Conn, text: string) => {
    const started = performance.now();
    const reply = new Promise<string>((resolve) => waiting = resolve);
    conn.send(text);
    const got = await reply;
    if (got !== text) {
      throw new ValidationError(`Echo of "${text}" answered "${got}"`);
    }
    return performance.now() - started;
  };
  await roundTrip(hogConn, "warm");
  const base = new Samples();
  const spinning = new Samples();
  let n = 0;
  const baseEnd = performance.now() + spec.baselineMs;
  while (performance.now() < baseEnd) {
    base.add(await roundTrip(healthy, `ping ${n++}`));
  }
  let closed: CloseInfo | undefined;
  hogConn.closed.then((info) => closed = info);
  const spinAt = performance.now();
  hogConn.send("spin");
  const deadline = spinAt + spec.cpuLimitS * 1000 + 10_000;
  let closedSeenAt = Infinity;
  while (performance.now() < Math.min(deadline, closedSeenAt + 300)) {
    spinning.add(await roundTrip(healthy, `ping ${n++}`));
    if (closed && closedSeenAt === Infinity) closedSeenAt = performance.now();
  }
  if (!closed) {
    throw new ValidationError(
      "The hog's room was not closed within the CPU limit + 10 s",
    );
  }
  return {
    ok: true,
    metrics: {
      baseP50Ms: base.percentile(50),
      spinP50Ms: spinning.percentile(50),
      spinP99Ms: spinning.percentile(99),
      spinMaxMs: spinning.max(),
      spinMsgs: spinning.count,
      hogCloseCode: closed.code,
      hogCloseMs: closed.at - spinAt,
    },
    notes: [`hog closed: ${closed.code} "${closed.reason}"`],
  };
}

/**
 * Run one scenario against one server.
 *
 * @example
 * ```ts ignore
 * const result = await runLoad({ target, prefix: "r1", spec: SCENARIOS.echo.short });
 * ```
 */
export async function runLoad(request: LoadRequest): Promise<LoadResult> {
  const { target, spec, prefix } = request;
  try {
    switch (spec.kind) {
      case "echo":
        return await echo(target, spec, prefix);
      case "fanout":
        return await fanout(target, spec, prefix);
      case "connect":
        return await connect(target, spec, prefix);
      case "rooms":
        return await rooms(target, spec, prefix);
      case "churn":
        return await churn(target, spec, prefix);
      case "hog":
        return await hog(target, spec, prefix);
    }
  } catch (error) {
    return {
      ok: false,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

if (import.meta.main) {
  const result = await runLoad(JSON.parse(Deno.args[0]) as LoadRequest);
  console.log(JSON.stringify(result));
  // Exit at once: open sockets are closed by the kernel, the server sees them go.
  Deno.exit(result.ok ? 0 : 1);
}
