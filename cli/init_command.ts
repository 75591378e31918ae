/**
 * `jamsocket init [DIR] --template ts|rust|assemblyscript|c`: write a new service that
 * `jamsocket dev` runs at once, with a README and a test.
 *
 * The templates live in `cli/templates/` and are embedded here as text imports, the Rust SDK
 * (`examples/wasm/rust/jamsocket-wasm`) with them, so `init` works from a compiled binary and
 * offline. The new project's `deno.json` maps `@jamsocket/jamsocket` to the copy of the framework
 * that runs `init` (a local checkout's `mod.ts`, or the JSR package), so its test and its
 * type-check work on this machine as they are.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };
import { parseFlags } from "./parse.ts";
import { UsageError } from "./usage_error.ts";
import serviceTest from "./templates/service_test.ts" with { type: "text" };
import tsService from "./templates/ts/service.ts" with { type: "text" };
import tsReadme from "./templates/ts/README.md" with { type: "text" };
import rustLib from "./templates/rust/src/lib.rs" with { type: "text" };
import rustCargo from "./templates/rust/Cargo.toml" with { type: "text" };
import rustReadme from "./templates/rust/README.md" with { type: "text" };
import rustSdk from "../examples/wasm/rust/jamsocket-wasm/src/lib.rs" with { type: "text" };
import ascConfig from "./templates/assemblyscript/asconfig.json" with { type: "text" };
import ascService from "./templates/assemblyscript/assembly/index.ts" with { type: "text" };
import ascReadme from "./templates/assemblyscript/README.md" with { type: "text" };
import cService from "./templates/c/service.c" with { type: "text" };
import cHeader from "./templates/c/jamsocket.h" with { type: "text" };
import cToml from "./templates/c/jamsocket.toml" with { type: "text" };
import cReadme from "./templates/c/README.md" with { type: "text" };

/** The templates `jamsocket init` knows, by `--template` name. */
export const TEMPLATES = ["ts", "rust", "assemblyscript", "c"] as const;

/** A `--template` name. */
export type TemplateName = typeof TEMPLATES[number];

const DESCRIPTIONS: Record<TemplateName, string> = {
  ts: "a TypeScript service",
  rust: "a Rust service (WebAssembly)",
  assemblyscript: "an AssemblyScript service (WebAssembly)",
  c: "a C service (WebAssembly)",
};

/** Help for `jamsocket init`. */
export const INIT_HELP = `Start a new service from a template, with a README and a test

Usage: jamsocket init [OPTIONS] [DIR]

Arguments:
  [DIR]  The folder to write it in: new, or without the files it writes [default: .]

Options:
  -t, --template <TEMPLATE>  ts, rust, assemblyscript or c [default: ts]
  -h, --help                 Print help

Then 'jamsocket dev DIR' builds, serves and reloads it.`;

/** Where the framework and the CLI come from, as the new project names them. */
interface Origin {
  /** What `@jamsocket/jamsocket` maps to. */
  readonly library: string;
  /** The command line that runs `jamsocket`. */
  readonly cli: string;
}

/**
 * The files of `template` for a project named `name`, by path: what `init` writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { templateFiles } from "./init_command.ts";
 *
 * const files = templateFiles("rust", "chat", { library: "jsr:@jamsocket/jamsocket@^0.1.0", cli: "jamsocket" });
 * assert.ok(files["Cargo.toml"].includes('name = "chat"'));
 * assert.ok("jamsocket-wasm/src/lib.rs" in files);
 * ```
 */
export function templateFiles(
  template: TemplateName,
  name: string,
  origin: Origin,
): Record<string, string> {
  const crate = crateName(name);
  const wasm = template !== "ts";
  const modules: Record<TemplateName, string[]> = {
    ts: [],
    rust: ["wasm32-wasip1", "wasm32-wasi"].map((target) =>
      `target/${target}/release/${crate.replaceAll("-", "_")}.wasm`
    ),
    assemblyscript: ["build/service.wasm"],
    c: ["service.wasm"],
  };
  const fill = (text: string) =>
    text.replaceAll("{{NAME}}", crate)
      .replaceAll("{{JAMSOCKET}}", origin.library)
      .replaceAll("{{VERSION}}", denoJson.version)
      .replaceAll("{{DEV}}", `deno task dev    # that is: ${origin.cli} dev`);
  const tasks: Record<string, string> = { dev: `${origin.cli} dev` };
  if (wasm) tasks.build = `${origin.cli} build`;
  tasks.test = wasm ? `${origin.cli} build && deno test -A` : "deno test -A";
  const common = {
    "service_test.ts": serviceTest.replace(
      "const MODULES: string[] = [];",
      `const MODULES: string[] = ${JSON.stringify(modules[template])};`,
    ),
    "deno.json": `${
      JSON.stringify({ tasks, imports: { "@jamsocket/jamsocket": origin.library } }, null, 2)
    }\n`,
  };
  switch (template) {
    case "ts":
      return {
        "service.ts": tsService,
        ...common,
        "README.md": fill(tsReadme),
        ".gitignore": "deno.lock\n",
      };
    case "rust":
      return {
        "Cargo.toml": fill(rustCargo),
        "src/lib.rs": rustLib,
        "jamsocket-wasm/Cargo.toml": RUST_SDK_MANIFEST,
        "jamsocket-wasm/src/lib.rs": rustSdk,
        ...common,
        "README.md": fill(rustReadme),
        ".gitignore": "target/\ndeno.lock\n",
      };
    case "assemblyscript":
      return {
        "asconfig.json": ascConfig,
        "assembly/index.ts": ascService,
        ...common,
        "README.md": fill(ascReadme),
        ".gitignore": "build/\ndeno.lock\n",
      };
    case "c":
      return {
        "service.c": cService,
        "jamsocket.h": cHeader,
        "jamsocket.toml": cToml,
        ...common,
        "README.md": fill(cReadme),
        ".gitignore": "service.wasm\ndeno.lock\n",
      };
  }
}

const RUST_SDK_MANIFEST =
  `# A crate-free re-creation of the original jamsocket-wasm 0.1 guest SDK (ABI v1, protocol 0),
# vendored by \`jamsocket init\` so the service builds offline. See ../README.md to use the
# original crate from crates.io instead.
[package]
name = "jamsocket-wasm"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
name = "jamsocket_wasm"
path = "src/lib.rs"
`;

/**
 * Run `jamsocket init` with the arguments after `init`.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await initCommand(["my-service", "--template", "rust"]));
 * ```
 */
export async function initCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    template: { type: "string", short: "t" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(INIT_HELP);
    return 0;
  }
  const template = (values.template ?? "ts") as TemplateName;
  if (!TEMPLATES.includes(template)) {
    throw new UsageError(
      `Invalid value for '--template': expected one of ${TEMPLATES.join(", ")}, got '${template}'`,
    );
  }
  if (positionals.length > 1) {
    throw new UsageError(`Found argument '${positionals[1]}' which wasn't expected`);
  }
  const dirArg = positionals[0] ?? ".";
  const dir = resolve(dirArg);
  const files = templateFiles(template, basename(dir), origin());
  const clashes: string[] = [];
  for (const path of Object.keys(files)) {
    if (await exists(join(dir, path))) clashes.push(path);
  }
  if (await isFile(dir)) throw new UsageError(`Cannot write into "${dirArg}": it is a file`);
  if (clashes.length > 0) {
    throw new UsageError(
      `Cannot write into "${dirArg}": it already has ${
        clashes.map((path) => `"${path}"`).join(", ")
      } (init writes only new files)`,
    );
  }
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text, { createNew: true });
  }
  console.log(`Created ${DESCRIPTIONS[template]} in ${dirArg}:`);
  console.log(`  ${Object.keys(files).join(", ")}`);
  console.log("Next:");
  if (dir !== Deno.cwd()) console.log(`  cd ${dirArg}`);
  console.log("  deno task dev    # build, serve on http://localhost:8080/, reload on changes");
  console.log("  deno task test   # the test in service_test.ts");
  return 0;
}

/** Where this copy of the framework and its CLI live, as a new project should name them. */
function origin(): Origin {
  const version = denoJson.version;
  const mod = new URL("../mod.ts", import.meta.url);
  const exe = Deno.execPath();
  const compiled = !/^deno(\.exe)?$/.test(basename(exe));
  if (mod.protocol === "file:" && !compiled) {
    const path = fileURLToPath(mod);
    try {
      Deno.statSync(path);
      return {
        library: mod.href,
        cli: `deno run -A ${fileURLToPath(new URL("../cli.ts", import.meta.url))}`,
      };
    } catch {
      // not a checkout on disk
    }
  }
  return {
    library: `jsr:@jamsocket/jamsocket@^${version}`,
    cli: compiled ? exe : `deno run -A jsr:@jamsocket/cli@^${version}`,
  };
}

/** A Cargo package name from a folder name: lowercase letters, digits, `-` and `_`. */
function crateName(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[^a-z]+|-+$/g, "");
  return cleaned || "service";
}

function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}

function isFile(path: string): Promise<boolean> {
  return Deno.stat(path).then((info) => info.isFile, () => false);
}
