/**
 * `Deno.watchFs(paths, { ignore })` only ignores paths that exist when the watcher starts: a
 * folder created later (a build's `target/`) is reported anyway. In a temporary folder it
 * removes: `old/` exists before the watcher starts, `new/` is made after; both are ignored; a
 * file is written in each and at the top, and events are collected for 500 ms.
 *
 * ```sh
 * deno run -A scripts/facts/watchfs_ignore.ts
 * ```
 *
 * @module
 */

const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "watchfs_fact_" }));
try {
  await Deno.mkdir(`${dir}/old`);
  const watcher = Deno.watchFs(dir, { recursive: true, ignore: [`${dir}/old`, `${dir}/new`] });
  const seen = new Set<string>();
  const collecting = (async () => {
    for await (const event of watcher) {
      for (const path of event.paths) seen.add(path.slice(dir.length + 1));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 100)); // let the watcher start
  await Deno.mkdir(`${dir}/new`);
  for (const path of ["old/a.txt", "new/a.txt", "top.txt"]) {
    await Deno.writeTextFile(`${dir}/${path}`, "change");
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  watcher.close();
  await collecting;
  const report = (name: string) => seen.has(name) ? "reported" : "ignored";
  console.log(
    `watchFs ignore: a write in old/ (existed at start) ${report("old/a.txt")}, in new/ ` +
      `(made later) ${report("new/a.txt")}; at the top ${report("top.txt")}`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
