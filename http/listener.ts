/**
 * The accept loop: a TCP listener that survives running out of file descriptors and caps the
 * connections it serves.
 *
 * - **Connection cap**: past `maxConnections` open connections, a new one is answered
 *   `503 Service Unavailable` and closed.
 * - **EMFILE / ENFILE**: `accept()` failing for lack of descriptors does not end the process (as
 *   it does under `Deno.serve`). A spare descriptor (`/dev/null`, when readable) is closed to
 *   accept and shed the waiting connection, then reopened; without one, accepting backs off (10 ms
 *   doubling to 1 s). Connections already open keep being served, and accepting resumes by itself
 *   once descriptors are free.
 * - Each condition is logged when it starts (at most once a minute) and when it ends, with the
 *   number of connections turned away.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { closingResponse } from "./http1.ts";

/** Refused connections lingering (to deliver their 503) at most at once; more are just closed. */
const MAX_LINGERING = 64;

/** How long a refused connection may take to read its 503, in ms. */
const LINGER_MS = 1000;

/** A condition is logged again only after this long, in ms. */
const LOG_EVERY_MS = 60_000;

/** Options of {@linkcode Listener}. */
export interface ListenerOptions {
  /** The address to listen on. */
  hostname: string;
  /** The port; `0` picks a free one. */
  port: number;
  /** Most connections served at once; more get 503. */
  maxConnections: number;
  /** Where the conditions are logged. */
  logger: Logger;
  /** Serve one connection; call `done` once, when it is closed. */
  serve(conn: Deno.TcpConn, done: () => void): void;
}

/** A condition that turns connections away, logged when it starts and ends. */
class Episode {
  readonly #logger: Logger;
  readonly #start: (refusedBefore: number) => string;
  readonly #stop: (refused: number) => string;
  #active = false;
  #logged = false;
  #refused = 0;
  #unreported = 0;
  #lastLog = -Infinity;

  constructor(
    logger: Logger,
    start: (refusedBefore: number) => string,
    stop: (refused: number) => string,
  ) {
    this.#logger = logger;
    this.#start = start;
    this.#stop = stop;
  }

  /** The condition holds; `count` more connections were turned away. */
  refuse(count = 1): void {
    this.#refused += count;
    if (this.#active) return;
    this.#active = true;
    const now = performance.now();
    if (now - this.#lastLog >= LOG_EVERY_MS) {
      this.#logger.error(this.#start(this.#unreported));
      this.#lastLog = now;
      this.#logged = true;
      this.#unreported = 0;
    } else this.#logged = false;
  }

  /** A connection was accepted normally: the condition is over. */
  clear(): void {
    if (!this.#active) return;
    this.#active = false;
    if (this.#logged) this.#logger.warn(this.#stop(this.#refused));
    else this.#unreported += this.#refused;
    this.#refused = 0;
  }

  get active(): boolean {
    return this.#active;
  }
}

/**
 * Accepts TCP connections and hands each to `serve`, within the connection cap and through
 * descriptor exhaustion.
 *
 * @example
 * ```ts
 * import { Listener } from "./listener.ts";
 * import { consoleLogger } from "../util/logger.ts";
 *
 * const listener = new Listener({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   maxConnections: 100,
 *   logger: consoleLogger(),
 *   serve: (conn, done) => {
 *     conn.close();
 *     done();
 *   },
 * });
 * listener.close();
 * await listener.finished;
 * ```
 */
export class Listener {
  /** The address listened on. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the loop has stopped accepting. */
  readonly finished: Promise<void>;
  /** Connections refused at the cap so far. */
  refusedAtLimit = 0;
  /** Connections shed for lack of file descriptors so far. */
  shedOutOfDescriptors = 0;
  readonly #listener: Deno.TcpListener;
  readonly #options: ListenerOptions;
  readonly #atLimit: Episode;
  readonly #outOfDescriptors: Episode;
  #connections = 0;
  /** Refused connections still delivering their 503. */
  readonly #lingering = new Set<Deno.TcpConn>();
  #spare: Deno.FsFile | undefined;
  #backoff = 0;
  #closed = false;

  /** Listen (throws what `Deno.listen` throws, e.g. the address is in use) and start accepting. */
  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    this.addr = this.#listener.addr;
    const { logger, maxConnections } = options;
    this.#atLimit = new Episode(
      logger,
      (before) =>
        `Connection limit of ${maxConnections} reached: answering new connections 503 until some ` +
        `close (raise it with --max-connections)${before ? `; ${before} refused earlier` : ""}`,
      (refused) => `Accepting connections again after refusing ${refused} at the connection limit`,
    );
    this.#outOfDescriptors = new Episode(
      logger,
      (before) =>
        `Out of file descriptors ("Too many open files") with ${this.#connections} connections ` +
        `open: shedding new connections until some close (raise the limit with ulimit -n, or ` +
        `set --max-connections below it)${before ? `; ${before} shed earlier` : ""}`,
      (refused) =>
        `Accepting connections again after shedding ${refused} while out of file descriptors`,
    );
    this.#spare = openSpare();
    this.finished = this.#run();
  }

  /** One connection closed (shared by all: no closure per connection). */
  readonly #release = (): void => {
    this.#connections--;
  };

  /** Connections open now. */
  get connections(): number {
    return this.#connections;
  }

  /** Stop accepting (connections already open are not touched). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    this.#spare?.close();
    this.#spare = undefined;
    for (const conn of this.#lingering) close(conn);
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) break;
        if (outOfDescriptors(error)) conn = await this.#shed();
        else {
          // A connection reset before it was accepted, and the like: not ours to stop for.
          this.#options.logger.debug(`Accepting a connection failed: ${describeError(error)}`);
          await sleep(10);
        }
        if (conn === undefined) continue;
      }
      this.#backoff = 0;
      this.#outOfDescriptors.clear();
      this.#spare ??= openSpare();
      if (this.#connections >= this.#options.maxConnections) {
        this.refusedAtLimit++;
        this.#atLimit.refuse();
        this.#refuse(conn);
        continue;
      }
      this.#atLimit.clear();
      this.#connections++;
      try {
        conn.setNoDelay(true);
      } catch {
        // the peer is already gone; serving it finds out
      }
      try {
        this.#options.serve(conn, this.#release);
      } catch (error) {
        this.#options.logger.error(`Serving a connection failed: ${describeError(error)}`);
        this.#release();
      }
    }
  }

  /**
   * Out of descriptors. With the spare: close it, accept the waiting connection, and try to reopen
   * the spare; if that fails the process is still out, and the connection is shed, else it is
   * returned to be served. Without a spare: back off.
   */
  async #shed(): Promise<Deno.TcpConn | undefined> {
    if (this.#spare !== undefined) {
      this.#spare.close();
      this.#spare = undefined;
      try {
        const conn = await this.#listener.accept();
        this.#spare = openSpare();
        if (this.#spare !== undefined) return conn;
        conn.close();
        this.shedOutOfDescriptors++;
        this.#outOfDescriptors.refuse();
        return undefined;
      } catch {
        // still none free (another part of the process took it): back off
      }
    }
    this.#outOfDescriptors.refuse(0);
    this.#backoff = Math.min(1000, this.#backoff === 0 ? 10 : this.#backoff * 2);
    await sleep(this.#backoff);
    return undefined;
  }

  /** Answer 503 and close, lingering briefly so that the client reads the answer. */
  #refuse(conn: Deno.TcpConn): void {
    if (this.#lingering.size >= MAX_LINGERING) return conn.close();
    this.#lingering.add(conn);
    void linger(
      conn,
      closingResponse(503, "Server is at its connection limit; try again later"),
    ).finally(() => this.#lingering.delete(conn));
  }
}

/** Write `bytes`, stop writing, read until the client closes (at most {@linkcode LINGER_MS}). */
async function linger(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  const timer = setTimeout(() => close(conn), LINGER_MS);
  try {
    await conn.write(bytes);
    await conn.closeWrite();
    const sink = new Uint8Array(512);
    while ((await conn.read(sink)) !== null) {
      // discard what the client sent
    }
  } catch {
    // the client went away, or the timer closed the connection
  } finally {
    clearTimeout(timer);
    close(conn);
  }
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function outOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "EMFILE" || code === "ENFILE" ||
    (error instanceof Error && /too many open files/i.test(error.message));
}

/** A descriptor to give up when out of them: `/dev/null`, if this process may read it. */
function openSpare(): Deno.FsFile | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/dev/null" }).state !== "granted") {
      return undefined;
    }
    return Deno.openSync("/dev/null");
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The default connection cap: the process's open-file limit (`/proc/self/limits`) less 128
 * descriptors for everything else, or 16,384 where the limit cannot be read.
 *
 * @example
 * ```ts
 * import { defaultMaxConnections } from "./listener.ts";
 *
 * const cap: number = defaultMaxConnections();
 * ```
 */
export function defaultMaxConnections(): number {
  try {
    if (
      Deno.permissions.querySync({ name: "read", path: "/proc/self/limits" }).state === "granted"
    ) {
      const limits = Deno.readTextFileSync("/proc/self/limits");
      const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
      if (soft !== undefined && soft !== "unlimited") {
        const limit = Number(soft);
        return Math.max(1, limit > 256 ? limit - 128 : Math.floor(limit / 2));
      }
    }
  } catch {
    // not Linux, or not allowed to read: the fixed default
  }
  return 16_384;
}
