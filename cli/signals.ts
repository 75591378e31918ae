/**
 * Graceful shutdown on SIGINT and SIGTERM.
 *
 * @module
 */

/**
 * Run `shutdown` on the first SIGINT or SIGTERM; a second signal exits at once (code 130).
 *
 * @example
 * ```ts ignore
 * onShutdownSignal(() => server.shutdown());
 * ```
 */
export function onShutdownSignal(shutdown: () => Promise<void>): void {
  let stopping = false;
  const handle = () => {
    if (stopping) Deno.exit(130);
    stopping = true;
    void shutdown();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    if (Deno.build.os === "windows" && signal === "SIGTERM") continue;
    Deno.addSignalListener(signal, handle);
  }
}
