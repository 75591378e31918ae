/**
 * A real `redis-server` for a test (Debian `redis-server`), on a free 127.0.0.1 port with its own
 * temporary folder and no persistence, stopped by the test.
 *
 * @module
 */

import { WAIT_MS, withTimeout } from "./_client.ts";

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it next). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A running `redis-server`. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  #process: Deno.ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** `redis://127.0.0.1:PORT` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Start a server on a free port (or on `port`). */
  static async start(port: number = freePort()): Promise<RedisServer> {
    const server = new RedisServer(port, await Deno.makeTempDir({ prefix: "jamsocket-redis-" }));
    await server.restart();
    return server;
  }

  /** (Re)start the server on the same port; it comes back empty (no persistence). */
  async restart(): Promise<void> {
    await this.kill();
    const process = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#process = process;
    void process.stdout.pipeTo(new WritableStream());
    void process.stderr.pipeTo(new WritableStream());
    await withTimeout(this.#waitReady(), WAIT_MS, `redis-server on port ${this.port}`);
  }

  /** Stop the server at once (SIGKILL): everything it held is lost. */
  async kill(): Promise<void> {
    const process = this.#process;
    if (process === undefined) return;
    this.#process = undefined;
    try {
      process.kill("SIGKILL");
    } catch {
      // already gone
    }
    await process.status;
  }

  /** Send one command and read the reply line (enough for PING, DBSIZE, KEYS-free checks). */
  async command(...args: string[]): Promise<string> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    try {
      const body = `*${args.length}\r\n` +
        args.map((a) => `$${new TextEncoder().encode(a).length}\r\n${a}\r\n`).join("");
      await conn.write(new TextEncoder().encode(body));
      const buffer = new Uint8Array(64 * 1024);
      let text = "";
      const deadline = Date.now() + WAIT_MS;
      while (!isComplete(text) && Date.now() < deadline) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return text;
    } finally {
      conn.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async #waitReady(): Promise<void> {
    for (let i = 0; i < 500; i++) {
      try {
        if ((await this.command("PING")).startsWith("+PONG")) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }
}

/** A RESP reply is complete (simple cases: one line, a bulk string, or an array of bulks). */
function isComplete(text: string): boolean {
  if (!text.endsWith("\r\n")) return false;
  if (text[0] === "$") {
    return Number(text.slice(1, text.indexOf("\r\n"))) < 0 || text.split("\r\n").length >= 3;
  }
  if (text[0] === "*") {
    const count = Number(text.slice(1, text.indexOf("\r\n")));
    return count <= 0 || text.split("\r\n").length >= 2 * count + 2;
  }
  return true;
}
