/**
 * HTTP/1.1 on the front (`http/http_server.ts`): keep-alive and pipelining, HEAD, chunked bodies
 * both ways, `Expect: 100-continue`, HTTP/1.0, unread bodies, handler errors. Raw TCP clients.
 */

import assert from "node:assert/strict";
import { type FrontOptions, type HttpServer, serveHttp } from "../http/http_server.ts";
import { exchange, RawHttp, statusOf } from "./_raw_http.ts";
import { prng } from "./_prng.ts";
import { CaptureLogger } from "./_server.ts";

/** A front answering with `handler`, disposed with `await using`. */
function front(
  handler: (request: Request) => Response | Promise<Response>,
  options: FrontOptions = {},
) {
  const logger = new CaptureLogger();
  const server: HttpServer = serveHttp(handler, {
    hostname: "127.0.0.1",
    port: 0,
    logger,
    ...options,
  });
  return { server, logger, port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

/** The body of the response in `text` (everything after its head). */
function bodyOf(text: string): string {
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

const echo = async (request: Request) =>
  new Response(`${request.method} ${new URL(request.url).pathname} ${await request.text()}`);

Deno.test("keep-alive: pipelined requests on one connection are answered in order", async () => {
  await using f = front(echo);
  const client = await RawHttp.connect(f.port);
  await client.write(
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz" +
      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  const text = await client.readToEnd();
  const bodies = text.split("HTTP/1.1 200 OK").slice(1).map(bodyOf);
  assert.deepEqual(bodies, ["GET /a ", "POST /b xyz", "GET /c "]);
  client.close();
});

Deno.test("HEAD gets the head with Content-Length and no body; the connection goes on", async () => {
  await using f = front(() => new Response("twelve bytes"));
  const client = await RawHttp.connect(f.port);
  await client.write(
    "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  const text = await client.readToEnd();
  const [head, get] = text.split("HTTP/1.1 200 OK").slice(1);
  assert.match(head, /\r\ncontent-length: 12\r\n\r\n$/);
  assert.equal(bodyOf(get), "twelve bytes");
  client.close();
});

Deno.test("a chunked request body (with extensions and trailers) reaches the handler whole", async () => {
  await using f = front(echo);
  const answer = await exchange(
    f.port,
    "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
  );
  assert.equal(statusOf(answer), 200);
  assert.equal(bodyOf(answer), "POST /up hello world");
});

Deno.test("malformed chunk framing is 400 with a reason, also when the handler lets it throw", async () => {
  await using f = front(echo);
  const answer = await exchange(
    f.port,
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n",
  );
  assert.equal(statusOf(answer), 400);
  assert.equal(bodyOf(answer), "Malformed chunk size");
  const long = await exchange(
    f.port,
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      `1;${"e".repeat(600)}\r\n`,
  );
  assert.equal(bodyOf(long), "Chunk size line too long");
  const trailer = await exchange(
    f.port,
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      `0\r\nX-Long: ${"t".repeat(600)}\r\n\r\n`,
  );
  assert.equal(statusOf(trailer), 431);
  assert.deepEqual(f.logger.lines, []);
});

Deno.test("Expect: 100-continue gets 100 once the handler reads the body", async () => {
  await using f = front(echo);
  const client = await RawHttp.connect(f.port);
  await client.write(
    "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
  );
  await client.readUntil((got) => got.includes("HTTP/1.1 100 Continue\r\n\r\n"));
  await client.write("data");
  const text = await client.readToEnd();
  assert.equal(bodyOf(text.slice(text.indexOf("HTTP/1.1 200"))), "PUT /p data");
  client.close();
});

/** A body that arrives in three parts, some time apart. */
function slowBody(): ReadableStream<Uint8Array> {
  const parts = ["one ", "two ", "three"];
  return new ReadableStream({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const part = parts.shift();
      if (part === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(part));
    },
  });
}

Deno.test("a streamed response goes out chunked to HTTP/1.1, and until the close to HTTP/1.0", async () => {
  await using f = front(() => new Response(slowBody()));
  const chunked = await exchange(f.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert.match(chunked, /\r\ntransfer-encoding: chunked\r\n/);
  assert.equal(bodyOf(chunked), "4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n");
  const old = await exchange(f.port, "GET / HTTP/1.0\r\n\r\n");
  assert.doesNotMatch(old, /transfer-encoding/);
  assert.equal(bodyOf(old), "one two three");
});

Deno.test("an unread small body is skipped to keep the connection; a large one closes it", async () => {
  await using f = front(() => new Response("ignored your body"));
  const client = await RawHttp.connect(f.port);
  await client.write(
    `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n${"a".repeat(10_000)}`,
  );
  await client.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const text = await client.readToEnd();
  assert.equal(text.split("HTTP/1.1 200 OK").length - 1, 2);
  client.close();
  const big = await RawHttp.connect(f.port);
  await big.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
  const answer = await big.readToEnd();
  assert.match(answer, /\r\nconnection: close\r\n/);
  assert.equal(bodyOf(answer), "ignored your body");
  big.close();
});

Deno.test("a handler that throws gets 500, logged once; the server goes on", async () => {
  let calls = 0;
  await using f = front(() => {
    if (calls++ === 0) throw new Error("boom");
    return new Response("fine");
  });
  const failed = await exchange(f.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert.equal(statusOf(failed), 500);
  assert.equal(bodyOf(failed), "Internal server error");
  assert.deepEqual(f.logger.lines, [
    "error Unexpected error while handling a request: Error: boom",
  ]);
  const ok = await exchange(f.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert.equal(bodyOf(ok), "fine");
});

Deno.test("fetch() and a declared Content-Length work end to end", async () => {
  await using f = front(() =>
    new Response(new Blob(["exactly 17 bytes!"]).stream(), { headers: { "content-length": "17" } })
  );
  const response = await fetch(`http://127.0.0.1:${f.port}/`);
  assert.equal(response.headers.get("content-length"), "17");
  assert.equal(await response.text(), "exactly 17 bytes!");
});

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

Deno.test(`fuzz: mutated request heads never get a 500 nor take the front down (seed ${SEED})`, async () => {
  const { int } = prng(SEED);
  const noise = ["\r", "\n", "\r\n", ":", " ", "\t", "\0", "\x7f", "\xff", "%", "[", "/", "?", "#"];
  await using f = front(echo, { headerTimeout: 0.3 });
  const valid = "POST /ws/room?x=1 HTTP/1.1\r\nHost: example.com:80\r\nX-A: b\r\n" +
    "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n2;a=b\r\nhi\r\n0\r\n";
  const statuses = new Map<number, number>();
  const cases = 300;
  for (let i = 0; i < cases; i++) {
    const chars = [...valid];
    for (let m = 0, n = 1 + int(6); m < n; m++) {
      const at = int(chars.length);
      switch (int(4)) {
        case 0:
          chars.splice(at, 1);
          break;
        case 1:
          chars.splice(at, 0, noise[int(noise.length)]);
          break;
        case 2:
          chars[at] = String.fromCharCode(int(256));
          break;
        default:
          chars.splice(at, 0, "9".repeat(int(30)));
      }
    }
    const client = await RawHttp.connect(f.port);
    await client.write(`${chars.join("")}\r\n\r\n`);
    // Enough to see the first answer (or the end); the front may also wait for more input.
    const answer = await client.readUntil((got) => got.includes("\r\n\r\n"), 3000)
      .catch(() => "");
    client.close();
    const status = statusOf(answer);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    assert.notEqual(status, 500, `${JSON.stringify(chars.join(""))} → ${answer}`);
  }
  assert.equal(
    statusOf(await exchange(f.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
    200,
  );
  assert.deepEqual(f.logger.lines.filter((line) => line.startsWith("error")), []);
  console.log(
    `${cases} mutated heads (seed ${SEED}): ${
      [...statuses].sort().map(([s, n]) => `${n}×${s || "no answer"}`).join(", ")
    }`,
  );
});
