/**
 * Start a real server on 127.0.0.1 for a test, with its log captured.
 *
 * @module
 */

import type { Logger } from "../util/logger.ts";
import {
  type JamsocketServer,
  serve,
  type ServeOptions,
  type ServiceDefinition,
} from "../server.ts";
import { TestClient, WAIT_MS, withTimeout } from "./_client.ts";

/** A logger that keeps every line, with its level, for assertions. */
export class CaptureLogger implements Logger {
  readonly lines: string[] = [];
  #watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  debug(line: string): void {
    this.#add(`debug ${line}`);
  }
  info(line: string): void {
    this.#add(`info ${line}`);
  }
  warn(line: string): void {
    this.#add(`warn ${line}`);
  }
  error(line: string): void {
    this.#add(`error ${line}`);
  }

  /** The first line (past or future) matching `pattern`. */
  waitFor(pattern: RegExp, ms: number = WAIT_MS): Promise<string> {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return withTimeout(
      new Promise((resolve) => this.#watchers.push({ pattern, resolve })),
      ms,
      `a log line matching ${pattern}`,
    );
  }

  #add(line: string): void {
    this.lines.push(line);
    this.#watchers = this.#watchers.filter((w) =>
      !w.pattern.test(line) || (w.resolve(line), false)
    );
  }
}

/** A running test server. */
export interface TestServer {
  readonly server: JamsocketServer;
  readonly logger: CaptureLogger;
  /** `http://127.0.0.1:PORT` */
  readonly http: string;
  /** The WebSocket URL of a room. */
  ws(room: string): string;
  /** Open a client in a room. */
  connect(room: string): Promise<TestClient>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Serve `service` on 127.0.0.1, on a free port; dispose it with `await using`. */
export function startServer(service: ServiceDefinition, options: ServeOptions = {}): TestServer {
  const logger = new CaptureLogger();
  const server = serve(service, {
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    logger,
    ...options,
  });
  const http = `http://127.0.0.1:${server.addr.port}`;
  const ws = (room: string) => `ws://127.0.0.1:${server.addr.port}/ws/${encodeURIComponent(room)}`;
  return {
    server,
    logger,
    http,
    ws,
    connect: (room) => TestClient.open(ws(room)),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
