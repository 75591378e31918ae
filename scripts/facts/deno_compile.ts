/**
 * `deno compile` offline: it downloads `denort` (the runtime it embeds the program in) from
 * dl.deno.land, which fails without network; pointing `DENORT_BIN` at the full `deno` binary
 * makes a file that behaves as plain `deno` instead of running the program. Works in a
 * temporary folder it removes; every command is stopped after 60 s.
 *
 * ```sh
 * deno run -A scripts/facts/deno_compile.ts
 * ```
 *
 * @module
 */

const dir = await Deno.makeTempDir({ prefix: "deno_compile_fact_" });

/** Run a command with stdin closed; its exit code and its stdout + stderr. */
async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { code, text };
}

try {
  const source = `${dir}/hello.ts`;
  await Deno.writeTextFile(source, `console.log("hello from the compiled program");\n`);
  const plain = await run(Deno.execPath(), ["compile", "-o", `${dir}/plain`, source]);
  const why = plain.text.split("\n").find((line) => /dns error|error sending request/.test(line));
  console.log(
    `deno compile: ${plain.code === 0 ? "succeeded" : `failed (exit ${plain.code})`}` +
      (why ? `: ${why.trim().replace(/^\d+: /, "")}` : ""),
  );

  const env = { DENORT_BIN: Deno.execPath() };
  const withDeno = await run(Deno.execPath(), ["compile", "-o", `${dir}/full`, source], env);
  if (withDeno.code !== 0) {
    console.log(`DENORT_BIN=deno: compile failed (exit ${withDeno.code})`);
  } else {
    const { text } = await run(`${dir}/full`, []);
    console.log(
      `DENORT_BIN=deno: compile succeeded (${
        ((await Deno.stat(`${dir}/full`)).size / 2 ** 20).toFixed(0)
      } MiB); ` +
        `running it prints "${
          text.split("\n")[0]
        }" (the program would print "hello from the compiled program")`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
