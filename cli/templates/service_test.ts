/**
 * The service's test: real WebSockets against a real server on a free port. Run it with
 * `deno task test` (which builds a WebAssembly service first), or `deno test -A`.
 */

import assert from "node:assert/strict";
import { loadWasmService, serve, type ServiceDefinition } from "@jamsocket/jamsocket";

/** Where the build writes the module, relative to this file; none for a TypeScript service. */
const MODULES: string[] = [];

Deno.test("the service greets each client and shares the room's counter", async () => {
  const server = serve(await loadService(), { port: 0, hostname: "127.0.0.1", onListen() {} });
  const url = `ws://127.0.0.1:${server.addr.port}/ws/test-room`;
  const a = await Client.open(url);
  assert.equal(await a.next(), "User 1 connected.");
  const b = await Client.open(url);
  assert.equal(await b.next(), "User 2 connected.");

  a.send("increment");
  assert.equal(await a.next(), "new value: 1");
  assert.equal(await b.next(), "new value: 1");
  b.send("hello");
  assert.equal(await a.next(), "User 2 sent 'hello'");
  assert.equal(await b.next(), "User 2 sent 'hello'");

  await Promise.all([a.close(), b.close()]);
  await server.shutdown();
});

/** The service: `service.ts`'s default export, or the newest module the build wrote. */
async function loadService(): Promise<ServiceDefinition> {
  if (MODULES.length === 0) {
    return (await import(new URL("./service.ts", import.meta.url).href)).default;
  }
  let newest: { url: URL; time: number } | undefined;
  for (const path of MODULES) {
    const url = new URL(path, import.meta.url);
    const time = await Deno.stat(url).then((info) => info.mtime?.getTime() ?? 0, () => -1);
    if (time >= 0 && (newest === undefined || time > newest.time)) newest = { url, time };
  }
  if (newest === undefined) {
    throw new Error(`No module at ${MODULES.join(" or ")}: build it first (deno task build)`);
  }
  return await loadWasmService(newest.url);
}

/** A WebSocket client that queues what it receives. */
class Client {
  readonly #socket: WebSocket;
  readonly #received: string[] = [];
  #waiting: ((text: string) => void) | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(String(event.data));
      else this.#received.push(String(event.data));
    };
  }

  static async open(url: string): Promise<Client> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    return new Client(socket);
  }

  send(text: string): void {
    this.#socket.send(text);
  }

  /** The next text message; fails after 5 s. */
  next(): Promise<string> {
    const queued = this.#received.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    let timer: ReturnType<typeof setTimeout>;
    return Promise.race([
      new Promise<string>((resolve) => this.#waiting = resolve),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("No message within 5 s")), 5000);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.#socket.onclose = resolve);
    this.#socket.close();
    await closed;
  }
}
