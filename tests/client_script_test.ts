/**
 * The generated browser client: `client/client.js` and its embedded copy must match a fresh build
 * of the TypeScript sources (`deno task client`), and must run without Deno.
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildClient, CLIENT_JS_MODULE_PATH, CLIENT_JS_PATH } from "../scripts/build_client.ts";
import { CLIENT_SCRIPT, CLIENT_SCRIPT_PATH, clientScriptResponse } from "../client/mod.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("client/client.js and its embedded copy match a fresh build (run `deno task client`)", async () => {
  const fresh = await buildClient();
  const committedJs = await Deno.readTextFile(new URL(CLIENT_JS_PATH, ROOT));
  const committedModule = await Deno.readTextFile(new URL(CLIENT_JS_MODULE_PATH, ROOT));
  assert.ok(committedJs === fresh.js, `${CLIENT_JS_PATH} is stale: run "deno task client"`);
  assert.ok(
    committedModule === fresh.module,
    `${CLIENT_JS_MODULE_PATH} is stale: run "deno task client"`,
  );
  assert.equal(CLIENT_SCRIPT, committedJs);
});

Deno.test("CLIENT_SCRIPT is a self-contained browser module without Deno globals", () => {
  assert.doesNotMatch(CLIENT_SCRIPT, /\bDeno\b/);
  assert.doesNotMatch(CLIENT_SCRIPT, /^\s*import\b/m);
  assert.match(CLIENT_SCRIPT, /^export \{$/m);
  for (const name of ["JamsocketClient", "JamsocketClientError", "JamsocketCloseEvent"]) {
    assert.match(CLIENT_SCRIPT, new RegExp(`^  ${name},$`, "m"), name);
  }
});

Deno.test("clientScriptResponse answers GET and HEAD with JavaScript, other methods with 405", async () => {
  const url = `http://localhost${CLIENT_SCRIPT_PATH}`;
  const get = clientScriptResponse(new Request(url));
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(get.headers.get("cache-control"), "no-cache");
  assert.equal(await get.text(), CLIENT_SCRIPT);
  const head = clientScriptResponse(new Request(url, { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  const post = clientScriptResponse(new Request(url, { method: "POST" }));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  assert.equal(await post.text(), "Method not allowed; use GET");
});

Deno.test("the client type-checks against the browser's DOM types alone (no Deno types)", async () => {
  const config = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(
      config,
      JSON.stringify({ compilerOptions: { strict: true, lib: ["dom", "es2022"] } }),
    );
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", config, "client/browser.ts"],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  } finally {
    await Deno.remove(config);
  }
});
