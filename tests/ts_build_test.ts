/**
 * The TypeScript builder behind `jamsocket dev` on a cold Deno cache: the first build of a fresh
 * machine downloads the service's packages, and Deno reports each download on stderr.
 *
 * Each test points `DENO_DIR` (inherited by the builder's `deno check` and `deno info`) at an
 * empty folder and imports `npm:smol-toml`, a dependency of this repository (so the npm registry
 * that installed it serves it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { TypeScriptBuilder } from "../cli/ts_build.ts";
import { BuildError } from "../wasm/build_error.ts";

const SERVICE = `import { parse } from "npm:smol-toml@1.9.1";

export default class Settings {
  readonly name = String(parse('name = "a"').name);
}
`;

/** `fn` on a project folder holding `service.ts`, with an empty Deno cache for its builds. */
async function withColdProject(
  service: string,
  fn: (builder: TypeScriptBuilder) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jamsocket-ts-build-" });
  const cache = await Deno.makeTempDir({ prefix: "jamsocket-cold-deno-dir-" });
  await Deno.writeTextFile(join(dir, "service.ts"), service);
  const before = Deno.env.get("DENO_DIR");
  Deno.env.set("DENO_DIR", cache);
  const builder = new TypeScriptBuilder(join(dir, "service.ts"), { dir, ignores: () => false });
  try {
    await fn(builder);
  } finally {
    if (before === undefined) Deno.env.delete("DENO_DIR");
    else Deno.env.set("DENO_DIR", before);
    await builder.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
}

Deno.test("a first build on a cold cache reads the module graph past Deno's download lines", async () => {
  await withColdProject(SERVICE, async (builder) => {
    const build = await builder.build(1);
    assert.deepEqual(build.reloaded, ["service.ts"]);
    assert.ok(build.kept > 0, "the npm package is in the graph");
    const service = build.service as unknown as new () => { name: string };
    assert.equal(new service().name, "a");
  });
});

Deno.test("a failed check on a cold cache shows the diagnostics, not the downloads", async () => {
  await withColdProject(SERVICE.replace("String(parse", "Number.parse(parse"), async (builder) => {
    const error = await builder.build(1).then(() => undefined, (error) => error);
    assert.ok(error instanceof BuildError, String(error));
    assert.match(error.message, /service\.ts:4:\d+: Property 'parse' does not exist/);
    assert.doesNotMatch(error.output, /Download/);
  });
});
