/**
 * Start the server for `serve` and `dev`, turning a failure to listen into one line that names
 * the address and the fix.
 *
 * @module
 */

import {
  type JamsocketServer,
  serve,
  type ServeOptions,
  type ServiceDefinition,
} from "../server.ts";
import { UsageError } from "./usage_error.ts";

/**
 * `serve(service, options)`, with the errors of listening made readable: a port in use names the
 * port and suggests `--port 0`; a host name that does not resolve, or an address this machine
 * does not have, is a {@linkcode UsageError} about `--hostname`.
 *
 * @throws {UsageError} for a bad `--hostname`.
 * @throws {Error} for a port in use or not allowed.
 * @example
 * ```ts
 * import { listen } from "./listen.ts";
 *
 * const server = listen(class {}, { port: 0, hostname: "127.0.0.1", onListen() {} });
 * await server.shutdown();
 * ```
 */
export function listen(service: ServiceDefinition, options: ServeOptions): JamsocketServer {
  try {
    return serve(service, options);
  } catch (error) {
    throw listenError(error, options.hostname ?? "0.0.0.0", options.port ?? 8080);
  }
}

function listenError(error: unknown, hostname: string, port: number): unknown {
  const address = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return new Error(
      `Cannot listen on ${address}: port ${port} is in use (by another server, or another jamsocket); pass --port 0 for any free port, or choose another with --port`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.PermissionDenied && !/--allow-net/.test(String(error))) {
    return new Error(
      `Cannot listen on ${address}: permission denied (ports below 1024 need privileges); choose a port from 1024 up with --port`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new UsageError(
      `Invalid value for '--hostname': "${hostname}" is not an address of this machine; use one it has, such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)`,
      { cause: error },
    );
  }
  if (
    error instanceof Error &&
    /failed to lookup address|Name or service not known/.test(error.message)
  ) {
    return new UsageError(
      `Invalid value for '--hostname': cannot resolve "${hostname}"; use an address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface), or a name that resolves to one`,
      { cause: error },
    );
  }
  return error;
}
