/**
 * The `jamsocket` command as its own package, so that it runs straight from JSR:
 *
 * ```sh
 * deno run -A jsr:@jamsocket/cli dev
 * deno run -A jsr:@jamsocket/cli serve counter.wasm --port 8080
 * ```
 *
 * It is `cli.ts` of `@jamsocket/jamsocket`; see that package for the library.
 *
 * @module
 */

import { main } from "@jamsocket/jamsocket/cli";

if (import.meta.main) Deno.exit(await main(Deno.args));
