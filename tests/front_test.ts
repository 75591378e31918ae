/**
 * Connection-level attacks on the front (`http/listener.ts`, `http/http_server.ts`): slowloris,
 * idle keep-alive connections, the connection cap, running out of file descriptors, oversized
 * request heads. Each test reproduces the attack on 127.0.0.1 and fails on a bare `Deno.serve`.
 */

import assert from "node:assert/strict";
import { serveHttp } from "../http/http_server.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { startCli } from "./_cli.ts";
import { exchange, RawHttp, statusOf } from "./_raw_http.ts";
import { CaptureLogger, startServer } from "./_server.ts";
import { recordingEcho } from "./_services.ts";

const STATUS = "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("slowloris: a request head that has not arrived within headerTimeout gets 408 and is closed", async () => {
  await using server = startServer(recordingEcho(), { headerTimeout: 0.3 });
  const port = server.server.addr.port;
  const started = Date.now();
  const partial = await RawHttp.connect(port);
  await partial.write("GET /status HTTP/1.1\r\nHost: x\r\n");
  const silent = await RawHttp.connect(port);
  const trickle = await RawHttp.connect(port);
  // One byte every 50 ms: always making progress, but the head as a whole is late.
  const trickling = (async () => {
    for (const c of `GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ${"a".repeat(200)}`) {
      if (trickle.ended) return;
      await trickle.write(c).catch(() => {});
      await sleep(50);
    }
  })();
  for (const client of [partial, silent, trickle]) {
    const answer = await client.readToEnd(5000);
    assert.equal(statusOf(answer), 408, answer);
    assert.match(answer, /\r\n\r\nRequest head did not arrive within 0\.3 s$/);
    assert.ok(client.ended);
  }
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 4000, `closed after ${elapsed} ms`);
  assert.equal(statusOf(await exchange(port, STATUS)), 200);
  await trickling;
  for (const client of [partial, silent, trickle]) client.close();
});

Deno.test("slowloris: 500 connections that never finish their heads are all closed; the server keeps answering", async () => {
  await using server = startServer(recordingEcho(), { headerTimeout: 0.5 });
  const port = server.server.addr.port;
  const clients = await Promise.all(
    Array.from({ length: 500 }, async (_, i) => {
      const client = await RawHttp.connect(port);
      await client.write(`GET /ws/r${i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n`);
      return client;
    }),
  );
  const control = await server.connect("control");
  control.send("during");
  assert.equal(await control.next(), "during");
  const answers = await Promise.all(clients.map((client) => client.readToEnd(10_000)));
  assert.deepEqual(new Set(answers.map(statusOf)), new Set([408]));
  control.send("after");
  assert.equal(await control.next(), "after");
  for (const client of clients) client.close();
  await control.close();
});

Deno.test("an idle keep-alive connection is closed after keepAliveTimeout, and serves requests until then", async () => {
  await using server = startServer(recordingEcho(), { keepAliveTimeout: 0.3 });
  const client = await RawHttp.connect(server.server.addr.port);
  for (let i = 1; i <= 2; i++) {
    await client.write("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    const text = await client.readUntil((got) => got.split("\r\n\r\nok").length > i);
    assert.equal(text.split("HTTP/1.1 200").length - 1, i);
  }
  const idleFrom = Date.now();
  await client.readToEnd(5000);
  assert.ok(client.ended);
  const idle = Date.now() - idleFrom;
  assert.ok(idle >= 250 && idle < 4000, `closed after ${idle} ms idle`);
  client.close();
});

Deno.test("past maxConnections a new connection gets 503 and is closed, logged once; accepting resumes", async () => {
  await using server = startServer(recordingEcho(), { maxConnections: 3 });
  const port = server.server.addr.port;
  const held = [await server.connect("a"), await server.connect("b"), await server.connect("c")];
  for (let i = 0; i < 4; i++) {
    const answer = await exchange(port, STATUS);
    assert.equal(statusOf(answer), 503, answer);
    assert.match(answer, /\r\n\r\nServer is at its connection limit; try again later$/);
  }
  held[0].send("still served");
  assert.equal(await held[0].next(), "still served");
  await held[0].close();
  await waitUntil(async () => statusOf(await exchange(port, STATUS)) === 200, "a free slot");
  const again = await server.connect("d");
  again.send("in");
  assert.equal(await again.next(), "in");
  const limit = server.logger.lines.filter((line) => /Connection limit of 3 reached/.test(line));
  assert.equal(limit.length, 1, limit.join("\n"));
  assert.match(limit[0], /^error Connection limit of 3 reached: answering new connections 503/);
  await server.logger.waitFor(/^warn Accepting connections again after refusing \d+ at the/);
  for (const client of [...held.slice(1), again]) await client.close();
});

Deno.test("out of file descriptors (EMFILE): the server keeps serving, sheds new connections, logs once, recovers", async () => {
  const cli = await startCli([
    "serve",
    new URL("../examples/echo.ts", import.meta.url).pathname,
    "--room-hosts",
    "0",
    "--max-connections",
    "100000",
    "--header-timeout",
    "60",
  ], { wrap: ["prlimit", "--nofile=256"] });
  const held: Deno.TcpConn[] = [];
  try {
    const open = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/r`);
    assert.equal(await open.next(), "User 1 connected.");
    // Idle connections until the server has no descriptor left (256 in all, some taken already).
    for (let i = 0; i < 400; i++) {
      held.push(await Deno.connect({ hostname: "127.0.0.1", port: cli.port }));
    }
    await cli.waitFor(/Out of file descriptors \("Too many open files"\)/, 10_000);
    open.send("still there?");
    assert.equal(await open.next(), "User 1 sent 'still there?'");
    assert.equal(statusOf(await exchange(cli.port, STATUS).catch(() => "")), 0, "not shed");
    for (const conn of held.splice(0)) conn.close();
    await waitUntil(
      async () => statusOf(await exchange(cli.port, STATUS).catch(() => "")) === 200,
      "the server to accept again",
      10_000,
    );
    const next = await TestClient.open(`ws://127.0.0.1:${cli.port}/ws/r`);
    assert.equal(await next.next(), "User 2 connected.");
    await cli.waitFor(/Accepting connections again after shedding \d+ while out of file/);
    assert.equal(cli.lines.filter((line) => /Out of file descriptors/.test(line)).length, 1);
    await next.close();
    await open.close();
  } finally {
    for (const conn of held) conn.close();
    assert.equal((await cli.stop()).code, 0);
  }
});

Deno.test("request heads over 16 KiB or 100 fields are 431; heads past the input budget are 503", async () => {
  const server = serveHttp(() => new Response("ok"), {
    hostname: "127.0.0.1",
    port: 0,
    inputBudget: 20 * 1024,
  });
  const port = server.addr.port;
  const big = await exchange(
    port,
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(17_000)}\r\n\r\n`,
  );
  assert.equal(statusOf(big), 431);
  assert.match(big, /Request head is over 16384 bytes$/);
  const fields = Array.from({ length: 101 }, (_, i) => `X-${i}: 1\r\n`).join("");
  assert.equal(statusOf(await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`)), 431);
  // Two heads of 10 KiB each arriving at once: the budget holds one.
  const first = await RawHttp.connect(port);
  const second = await RawHttp.connect(port);
  const half = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(10_000)}`;
  await first.write(half);
  await waitUntil(() => server.stats().inputBytes > 0, "the first head to be buffered");
  await second.write(half);
  const refused = await second.readToEnd();
  assert.equal(statusOf(refused), 503);
  assert.match(refused, /Server is busy; try again later$/);
  assert.ok(server.stats().inputBytes <= 20 * 1024);
  await first.write("\r\nConnection: close\r\n\r\n");
  assert.equal(statusOf(await first.readToEnd()), 200);
  assert.equal(server.stats().inputBytes, 0);
  first.close();
  second.close();
  await server.shutdown();
});

Deno.test("the front answers malformed requests itself with a one-line 4xx and keeps serving", async () => {
  const logger = new CaptureLogger();
  const server = serveHttp(() => new Response("ok"), { hostname: "127.0.0.1", port: 0, logger });
  const port = server.addr.port;
  const cases: [string, number, RegExp][] = [
    ["GET / HTTP/1.1\r\n\r\n", 400, /Missing Host header/],
    ["GET / HTTP/1.1\r\nHost: a b c\r\n\r\n", 400, /Invalid Host header/],
    ["GET / HTTP/1.1\r\nHost: x:99999999\r\n\r\n", 400, /Invalid Host header/],
    ["GET / HTTP/1.1\r\nHost: [\r\n\r\n", 400, /Invalid Host header/],
    ["GET / HTTP/1.1\r\nHost: %zz\r\n\r\n", 400, /Invalid Host header/],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, /HTTP version "2.0" is not supported/],
    ["GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400, /Malformed request line/],
    ["G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, /Malformed request method/],
    ["GET / HTTP/1.1\r\nHost: x\r\n Folded: yes\r\n\r\n", 400, /Folded header lines/],
    ["GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, /Malformed header name/],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400,
      /Both Transfer-Encoding and Content-Length/,
    ],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400, /Malformed Content-Length/],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, /"gzip" is not/],
    ["CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400, /Unsupported request target form/],
    ["CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n", 405, /Method CONNECT is not supported/],
    ["GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, /Unsupported request target form/],
    // Answered at once, not after the header timeout: the CRLF it waits for would never come.
    ["GET / HTTP/1.1\nHost: x\n\n", 400, /Header lines must end with CRLF/],
    ["GET / HTTP/1.1\r\nHost: x\n\r\n", 400, /Header lines must end with CRLF/],
  ];
  for (const [request, status, reason] of cases) {
    const answer = await exchange(port, request);
    assert.equal(statusOf(answer), status, `${JSON.stringify(request)} → ${answer}`);
    const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
    assert.match(body, reason);
    assert.doesNotMatch(body, /\n/);
    assert.match(answer, /\r\nconnection: close\r\n/);
  }
  assert.equal(statusOf(await exchange(port, STATUS)), 200);
  assert.deepEqual(logger.lines.filter((line) => line.startsWith("error")), []);
  await server.shutdown();
});
