/**
 * A WebSocket client for tests: messages queue until read, every wait is bounded.
 *
 * @module
 */

/** A frame as the client sees it: text, or the bytes of a binary frame. */
export type Frame = string | Uint8Array;

/** How long a test waits for one event before failing, in ms. */
export const WAIT_MS = 5000;

/** A real `WebSocket` with a queue of received frames and the close event as a Promise. */
export class TestClient {
  readonly socket: WebSocket;
  readonly #frames: Frame[] = [];
  #waiting: ((frame: Frame) => void) | undefined;
  readonly closed: Promise<CloseEvent>;
  readonly opened: Promise<void>;

  constructor(url: string, protocols?: string[]) {
    this.socket = new WebSocket(url, protocols);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (event) => {
      const frame = typeof event.data === "string" ? event.data : new Uint8Array(event.data);
      if (this.#waiting) {
        const resolve = this.#waiting;
        this.#waiting = undefined;
        resolve(frame);
      } else this.#frames.push(frame);
    };
    this.closed = new Promise((resolve) => this.socket.addEventListener("close", resolve));
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(), { once: true });
      this.socket.addEventListener(
        "close",
        (e) => reject(new Error(`closed before open: ${e.code}`)),
        {
          once: true,
        },
      );
    });
    this.opened.catch(() => {});
  }

  /** Open a client and wait until its socket is open. */
  static async open(url: string): Promise<TestClient> {
    const client = new TestClient(url);
    await client.opened;
    return client;
  }

  send(frame: Frame): void {
    this.socket.send(frame);
  }

  /** The next frame; fails after `ms`. */
  next(ms: number = WAIT_MS): Promise<Frame> {
    const frame = this.#frames.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    return withTimeout(
      new Promise<Frame>((resolve) => this.#waiting = resolve),
      ms,
      "a frame",
      () => this.#waiting = undefined,
    );
  }

  /** The next frame, which must be text. */
  async nextText(ms?: number): Promise<string> {
    const frame = await this.next(ms);
    if (typeof frame !== "string") throw new Error(`expected text, got ${frame.length} bytes`);
    return frame;
  }

  /** Frames received and not yet read. */
  get buffered(): readonly Frame[] {
    return this.#frames;
  }

  /** Wait for the close event; fails after `ms`. */
  waitClosed(ms: number = WAIT_MS): Promise<CloseEvent> {
    return withTimeout(this.closed, ms, "the close event");
  }

  /** Close and wait for the close event. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.waitClosed();
  }
}

/** Resolve with `promise`, or reject naming `what` after `ms`. */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onTimeout?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Wait until `condition()` holds, checking every few ms; fails after `ms`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms: number = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
