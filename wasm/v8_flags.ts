/**
 * The V8 flags that suit a process holding many WASM rooms.
 *
 * Each WASM room's memory counts toward V8's global allocation limit by its committed size (a Rust
 * guest's minimum is 17 pages, 1.06 MiB, most of it never touched), and V8 lets that external
 * part grow by at most 1.1× between full collections. So thousands of rooms bring a full
 * mark-compact every few dozen rooms, each marking the whole JS heap: in `deno task bench
 * --scenarios rooms`, a quarter of the server's CPU. A growing factor of 4 (V8's bound for its own
 * heap) makes those collections rare; what a room touches is the same. Measured in
 * `scripts/facts/wasm_gc_pressure.ts` and `docs/deno_facts.md`.
 *
 * V8 reads its flags when the process starts (Deno freezes them after; `node:v8`'s
 * `setFlagsFromString` changes nothing), so they go on the command line: room hosts are started
 * with them, and the in-process default takes them from `deno run --v8-flags=…` or
 * `deno compile --v8-flags=…`.
 *
 * @example
 * ```ts
 * import { WASM_ROOMS_V8_FLAGS } from "./v8_flags.ts";
 *
 * const args = ["run", `--v8-flags=${WASM_ROOMS_V8_FLAGS}`, "cli.ts", "serve", "service.wasm"];
 * ```
 *
 * @module
 */

/** `--v8-flags` value for a process with many WASM rooms (comma-separated V8 flags; `deno.json`'s
 * `compile` task repeats it, JSON having no imports). */
export const WASM_ROOMS_V8_FLAGS = "--external-memory-max-growing-factor=4";
