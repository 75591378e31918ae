/**
 * The edge-case guests in tests/fixtures/, as `deno task fixtures` built them from their WAT.
 *
 * @module
 */

/** The bytes of `tests/fixtures/<name>.wasm`. */
export function fixture(name: string): Promise<Uint8Array> {
  return Deno.readFile(new URL(`./fixtures/${name}.wasm`, import.meta.url));
}
