/**
 * What the fact scripts share: a WebSocket server on 127.0.0.1, a raw client that does what
 * browsers never do, `/proc` readings, child processes, and bounded waits.
 *
 * @module
 */

/** `n` bytes in KiB, one decimal. */
export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** `n` bytes in MiB, one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `promise`, or an error naming `what` after `ms` milliseconds. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A `/proc/<pid>/status` field in bytes (`VmRSS`, `VmSize`, …); 0 once the process is gone. */
export function procBytes(pid: number, field: "VmRSS" | "VmHWM" | "VmSize"): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** User + system CPU time of a process (all its threads), in milliseconds; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return 0;
  }
}

/** A `Deno.serve` on 127.0.0.1 that upgrades every request to a WebSocket. */
export interface WebSocketServer {
  /** The port it listens on (chosen by the system). */
  port: number;
  /** Messages of the errors thrown while upgrading (each answered with a 500). */
  errors: string[];
  /** Stop listening and wait for the server to finish. */
  close(): Promise<void>;
}

/** Serve WebSockets on 127.0.0.1, port 0; `onSocket` gets each server-side socket. */
export function serveWebSocket(
  onSocket: (socket: WebSocket, request: Request) => void,
  options: Deno.UpgradeWebSocketOptions = {},
): WebSocketServer {
  const controller = new AbortController();
  const errors: string[] = [];
  const onError = (error: unknown) => {
    errors.push(error instanceof Error ? error.message : String(error));
    return new Response(null, { status: 500 });
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {}, onError },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request, options);
      onSocket(socket, request);
      return response;
    },
  );
  return {
    port: server.addr.port,
    errors,
    close: async () => {
      controller.abort();
      await within(5000, "the server to finish", server.finished);
    },
  };
}

/** A frame from the server. */
export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/**
 * A WebSocket client on a bare TCP connection: it sends any frame (fragments without FIN,
 * oversized lengths), and reads frames one by one (pings too: it answers nothing by itself).
 */
export class RawClient {
  /** The TCP connection (for `setNoDelay`). */
  readonly conn: Deno.TcpConn;
  /** The handshake's answer: status line and headers. */
  readonly head: string;
  #buffer: Uint8Array;

  private constructor(conn: Deno.TcpConn, head: string, rest: Uint8Array) {
    this.conn = conn;
    this.head = head;
    this.#buffer = rest;
  }

  /** The HTTP status of the handshake's answer (101 when upgraded). */
  get status(): number {
    return Number(this.head.slice(9, 12));
  }

  /** Connect to 127.0.0.1:`port` and send the opening handshake, with extra `headers`. */
  static async open(port: number, headers: Record<string, string> = {}): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
    await conn.write(
      new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      ),
    );
    let head: Uint8Array = new Uint8Array(0);
    for (let end = -1; end < 0; end = findHeadEnd(head)) {
      const chunk = await read(conn);
      if (chunk === undefined) break;
      head = concat(head, chunk);
    }
    const end = findHeadEnd(head);
    const text = new TextDecoder().decode(end < 0 ? head : head.subarray(0, end));
    return new RawClient(conn, text, end < 0 ? new Uint8Array(0) : head.slice(end + 4));
  }

  /** Send one frame with a zero masking key (legal, and the payload goes out as it is). */
  send(opcode: number, payload: Uint8Array, fin = true): Promise<void> {
    return this.write(concat(frameHeader(opcode, payload.length, fin), payload));
  }

  /** Send only a frame's header announcing `length` payload bytes (then `write` them). */
  sendHeader(opcode: number, length: number, fin = true): Promise<void> {
    return this.write(frameHeader(opcode, length, fin));
  }

  /** Write bytes as they are. */
  async write(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /** The next frame, or undefined once the connection has ended. */
  async next(): Promise<Frame | undefined> {
    if (!(await this.#need(2))) return undefined;
    let length = this.#buffer[1] & 0x7f;
    const offset = length === 126 ? 4 : length === 127 ? 10 : 2;
    if (!(await this.#need(offset))) return undefined;
    const view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset);
    if (length === 126) length = view.getUint16(2);
    if (length === 127) length = Number(view.getBigUint64(2));
    if (!(await this.#need(offset + length))) return undefined;
    const frame = {
      fin: (this.#buffer[0] & 0x80) !== 0,
      opcode: this.#buffer[0] & 0x0f,
      payload: this.#buffer.slice(offset, offset + length),
    };
    this.#buffer = this.#buffer.subarray(offset + length);
    return frame;
  }

  /**
   * Close politely: send a close frame, read until the server's close frame or the end (1 s at
   * most), then close the connection. (A connection dropped without a close handshake delays
   * the exit of the process that served it by 15 s: `ws_unclean_close.ts`.)
   */
  async close(): Promise<void> {
    try {
      await this.send(Opcode.Close, new Uint8Array([0x03, 0xe8])); // 1000
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline) {
        const frame = await within(1000, "a close frame", this.next());
        if (frame === undefined || frame.opcode === Opcode.Close) break;
      }
    } catch {
      // the connection is gone, or the server did not answer in time
    }
    this.drop();
  }

  /** Close the TCP connection without a close frame. */
  drop(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  async #need(bytes: number): Promise<boolean> {
    while (this.#buffer.length < bytes) {
      const chunk = await read(this.conn);
      if (chunk === undefined) return false;
      this.#buffer = concat(this.#buffer, chunk);
    }
    return true;
  }
}

/** A frame in words: "close frame 1008", "opcode 1", or for undefined "the connection end". */
export function describeFrame(frame: Frame | undefined): string {
  if (frame === undefined) return "the connection end";
  if (frame.opcode !== Opcode.Close) return `opcode ${frame.opcode}`;
  const view = new DataView(frame.payload.buffer, frame.payload.byteOffset);
  return `close frame ${frame.payload.length >= 2 ? view.getUint16(0) : "without a code"}`;
}

/** WebSocket opcodes (RFC 6455 §5.2). */
export const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

function frameHeader(opcode: number, length: number, fin: boolean): Uint8Array {
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = new Uint8Array(2 + extra + 4); // the 4-byte masking key stays zero
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | (extra === 0 ? length : extra === 2 ? 126 : 127);
  const view = new DataView(header.buffer);
  if (extra === 2) view.setUint16(2, length);
  if (extra === 8) view.setBigUint64(2, BigInt(length));
  return header;
}

function findHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

async function read(conn: Deno.Conn): Promise<Uint8Array | undefined> {
  const chunk = new Uint8Array(65536);
  const n = await conn.read(chunk).catch(() => null);
  return n === null ? undefined : chunk.subarray(0, n);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** A `deno` child process whose stdout is read line by line; stderr is inherited or kept. */
export class DenoChild {
  readonly #process: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stderr: Promise<string>;

  /** Start `deno <args>` (e.g. `["run", "-A", script, "--serve"]`). */
  constructor(args: string[], stderr: "inherit" | "piped" = "inherit") {
    this.#process = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr }).spawn();
    this.#stderr = stderr === "piped"
      ? new Response(this.#process.stderr).text()
      : Promise.resolve("");
    this.#lines = this.#process.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new LineStream(),
    )[Symbol.asyncIterator]();
  }

  /** The child's process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /** What it wrote to stderr (when piped), once it has exited. */
  get stderr(): Promise<string> {
    return this.#stderr;
  }

  /** Its exit status, once it has exited. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#process.status;
  }

  /** Its next line of output, or undefined when stdout ends. */
  async line(ms = 30_000): Promise<string | undefined> {
    const next = await within(ms, "a line from the child process", this.#lines.next());
    return next.done ? undefined : next.value;
  }

  /** SIGKILL it (if still running) and wait for it to exit. */
  async kill(): Promise<Deno.CommandStatus> {
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // already exited
    }
    const status = await this.#process.status;
    await this.#lines.return?.();
    return status;
  }
}

class LineStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) controller.enqueue(line);
      },
      flush(controller) {
        if (rest !== "") controller.enqueue(rest);
      },
    });
  }
}

/** Start this script again as a child (`deno run -A <script> ...args`), e.g. as a server. */
export function spawnSelf(
  script: string,
  args: string[],
  stderr: "inherit" | "piped" = "inherit",
): DenoChild {
  return new DenoChild(["run", "-A", new URL(script).pathname, ...args], stderr);
}
