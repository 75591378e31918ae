/**
 * `Deno.watchFs(paths, { ignore })` only ignores paths that exist when the watcher starts: a
 * folder created later (a build's `target/`) is reported anyway. In a temporary folder it
 * removes: `old/` exists before the watcher starts, `new/` and `control/` are made after it;
 * `old/` and `new/` are ignored. After 300 ms (for the watcher to watch the new folders), a file
 * is written in each, and events are collected until `control/`'s write is seen (2 s at most).
 *
 * ```sh
 * deno run -A scripts/facts/watchfs_ignore.ts
 * ```
 *
 * @module
 */

import { within } from "./_facts.ts";

const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "watchfs_fact_" }));
try {
  await Deno.mkdir(`${dir}/old`);
  const watcher = Deno.watchFs(dir, { recursive: true, ignore: [`${dir}/old`, `${dir}/new`] });
  const seen = new Set<string>();
  const controlSeen = (async () => {
    for await (const event of watcher) {
      for (const path of event.paths) seen.add(path.slice(dir.length + 1));
      if (seen.has("control/a.txt")) return;
    }
  })();
  await Deno.mkdir(`${dir}/new`);
  await Deno.mkdir(`${dir}/control`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const folder of ["old", "new", "control"]) {
    await Deno.writeTextFile(`${dir}/${folder}/a.txt`, "change");
  }
  const complete = await within(2000, "the control write", controlSeen).then(
    () => true,
    () => false,
  );
  watcher.close();
  const report = (name: string) => seen.has(`${name}/a.txt`) ? "reported" : "not reported";
  console.log(
    `watchFs ignore: a write in old/ (existed at start, ignored) ${report("old")}, in new/ ` +
      `(made later, ignored) ${report("new")}, in control/ (made later) ${report("control")}` +
      (complete ? "" : " (gave up after 2 s)"),
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
