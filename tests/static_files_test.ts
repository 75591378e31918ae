import assert from "node:assert/strict";
import { join } from "node:path";
import { SharedCounterServer } from "../examples/counter.ts";
import { startServer } from "./_server.ts";

/** A site folder inside a temp folder that also holds a secret next to it. */
async function site(): Promise<{ dir: string; root: string }> {
  const dir = await Deno.makeTempDir();
  const root = join(dir, "public");
  await Deno.mkdir(join(root, "docs"), { recursive: true });
  await Deno.writeTextFile(join(root, "index.html"), "<h1>home</h1>");
  await Deno.writeTextFile(join(root, "app.js"), "console.log(1)");
  await Deno.writeTextFile(join(root, "docs", "index.html"), "<h1>docs</h1>");
  await Deno.writeTextFile(join(root, "docs", "notes.txt"), "notes");
  await Deno.writeTextFile(join(dir, "secret.txt"), "TOP SECRET");
  await Deno.symlink(join(dir, "secret.txt"), join(root, "link.txt"));
  return { dir, root };
}

/** Send one raw request line, so that no client normalises the path first. */
async function rawGet(port: number, target: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
  const response = await new Response(conn.readable).text();
  return response;
}

Deno.test("staticDir serves index.html for /, content types, HEAD and 404", async () => {
  const { dir, root } = await site();
  await using server = startServer(SharedCounterServer, { staticDir: root });
  const home = await fetch(`${server.http}/`);
  assert.equal(home.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await home.text(), "<h1>home</h1>");
  const script = await fetch(`${server.http}/app.js`);
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(await script.text(), "console.log(1)");
  assert.equal(await (await fetch(`${server.http}/docs/`)).text(), "<h1>docs</h1>");
  assert.equal(await (await fetch(`${server.http}/docs/notes.txt`)).text(), "notes");
  const head = await fetch(`${server.http}/docs/notes.txt`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "5");
  assert.equal(await head.text(), "");
  const missing = await fetch(`${server.http}/nope.css`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  assert.equal(await (await fetch(`${server.http}/status`)).text(), "ok");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("staticDir never serves a file outside the folder", async () => {
  const { dir, root } = await site();
  await using server = startServer(SharedCounterServer, { staticDir: root });
  const port = server.server.addr.port;
  for (
    const target of [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E%2Fsecret.txt",
      "/docs/..%2f..%2fsecret.txt",
      "/..%5csecret.txt",
      `/${dir}/secret.txt`,
      `/${encodeURIComponent(join(dir, "secret.txt"))}`,
      `//${dir.slice(1)}/secret.txt`,
      "/link.txt",
      "/%00",
    ]
  ) {
    const response = await rawGet(port, target);
    assert.doesNotMatch(response, /TOP SECRET/, `${target} leaked the secret`);
    assert.match(response, /^HTTP\/1\.1 (404|400)/, `${target}: ${response.split("\r\n")[0]}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("staticDir answers 404, never 500, for dot-files, long names, long paths and symlink loops", async () => {
  const { dir, root } = await site();
  await Deno.writeTextFile(join(root, ".env"), "SECRET=1");
  await Deno.mkdir(join(root, ".git"));
  await Deno.writeTextFile(join(root, ".git", "config"), "[core]");
  await Deno.symlink(join(root, "loop-b"), join(root, "loop-a"));
  await Deno.symlink(join(root, "loop-a"), join(root, "loop-b"));
  await using server = startServer(SharedCounterServer, { staticDir: root });
  const port = server.server.addr.port;
  for (
    const target of [
      "/.env",
      "/%2eenv",
      "/.git/config",
      "/docs/../.env",
      `/${"a".repeat(300)}`,
      `/${"abc/".repeat(1500)}x`,
      "/loop-a",
      "/loop-a/x",
    ]
  ) {
    const response = await rawGet(port, target);
    assert.match(
      response,
      /^HTTP\/1\.1 404/,
      `${target.slice(0, 40)}: ${response.split("\r\n")[0]}`,
    );
    assert.doesNotMatch(response, /SECRET|\[core\]/);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("staticDotFiles serves dot-files when asked to", async () => {
  const { dir, root } = await site();
  await Deno.writeTextFile(join(root, ".well-known"), "hello");
  await using server = startServer(SharedCounterServer, { staticDir: root, staticDotFiles: true });
  assert.equal(await (await fetch(`${server.http}/.well-known`)).text(), "hello");
  await Deno.remove(dir, { recursive: true });
});
