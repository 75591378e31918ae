/**
 * The flags `jamsocket serve` and `jamsocket dev` share, with the original CLI's names and
 * defaults, turned into {@linkcode ServeOptions}.
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";
import { OriginPolicy } from "../http/origins.ts";
import { parseRoomIdStrategy } from "../room/room_id.ts";
import { DEFAULT_MAX_ROOMS, type ServeOptions } from "../server.ts";
import { DEFAULT_ROOMS_PER_HOST } from "../runtime/service_runtime.ts";
import { DEFAULT_LEASE_MS } from "../cluster/cluster_options.ts";
import { parseShutdownPolicy } from "../room/shutdown_policy.ts";
import { DEFAULT_MAX_MEMORY_PAGES } from "../wasm/host.ts";
import { UsageError } from "./usage_error.ts";

type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * The server flags, for `parseArgs`. Values stay strings, and a flag not given stays undefined;
 * {@linkcode serveOptionsFrom} checks them and leaves defaults to the server.
 */
export const SERVE_FLAGS = {
  port: { type: "string", short: "p" },
  hostname: { type: "string" },
  rooms: { type: "string", short: "r" },
  "heartbeat-interval": { type: "string", short: "i" },
  "heartbeat-timeout": { type: "string", short: "t" },
  "shutdown-policy": { type: "string", short: "s" },
  static: { type: "string" },
  "static-dotfiles": { type: "boolean" },
  "max-rooms": { type: "string" },
  "max-clients": { type: "string" },
  "allowed-origin": { type: "string", multiple: true },
  "list-rooms": { type: "boolean" },
  record: { type: "string" },
  "max-message-size": { type: "string" },
  "max-messages-per-second": { type: "string" },
  "max-buffered-bytes": { type: "string" },
  "max-connections": { type: "string" },
  "header-timeout": { type: "string" },
  "keep-alive-timeout": { type: "string" },
  "close-timeout": { type: "string" },
  "input-budget": { type: "string" },
  "output-budget": { type: "string" },
  "room-hosts": { type: "string" },
  "rooms-per-host": { type: "string" },
  "cpu-limit": { type: "string" },
  "memory-limit": { type: "string" },
  "wasm-memory-budget": { type: "string" },
  "time-slice": { type: "string" },
  "hibernate-after": { type: "string" },
  state: { type: "string" },
  "snapshot-every": { type: "string" },
  cluster: { type: "string" },
  "node-address": { type: "string" },
  "cluster-lease": { type: "string" },
  placement: { type: "string" },
} as const satisfies FlagOptions;

/** Help text for {@linkcode SERVE_FLAGS}. */
export const SERVE_FLAGS_HELP = `
  -p, --port <PORT>                     Port to listen on [default: 8080]
      --hostname <HOST>                 Address to listen on [default: 0.0.0.0]
  -r, --rooms <STRATEGY>                implicit, api, short, short<n> (3 <= n < 13), uuid
                                        [default: implicit]
  -i, --heartbeat-interval <SECONDS>    Ping a client after this much silence [default: 30]
  -t, --heartbeat-timeout <SECONDS>     Close a client silent this long [default: 120]
  -s, --shutdown-policy <POLICY>        never, immediate, <n>sec: when an empty room is
                                        destroyed [default: 300sec]
      --static <DIR>                    Serve the files of DIR for other GET requests
      --static-dotfiles                 Also serve files and folders of DIR whose name
                                        starts with a dot (.env, .git/) [default: off]
      --max-rooms <N>                   Most rooms at once; at the limit the room empty
                                        longest is closed, and with none empty a new room
                                        gets 503 [default: ${DEFAULT_MAX_ROOMS}]
      --max-clients <N>                 Most clients in one room; one more gets 503
                                        [default: no limit]
      --allowed-origin <ORIGIN>         Only pages from ORIGIN (https://app.example.com)
                                        may open WebSockets; others get 403. Repeatable
                                        [default: any origin]
      --list-rooms                      Answer GET /rooms with the rooms as JSON
      --record <DIR>                    Record every room's inputs and outputs, one
                                        .jsonl file per room in DIR (jamsocket replay)
      --max-message-size <BYTES>        Close a client that sends a larger message, however
                                        fragmented (1009) [default: 1048576]
      --max-messages-per-second <N>     Close a client that sends faster (1008); 0 is no
                                        limit [default: 0]
      --max-buffered-bytes <BYTES>      Close a client whose unsent output passes this,
                                        because it reads too slowly (1008) [default: 4194304]
      --max-connections <N>             Answer connections past N open with 503 [default:
                                        the open-file limit less 128]
      --header-timeout <SECONDS>        Close a client whose request head has not arrived
                                        in time (408) [default: 10]
      --keep-alive-timeout <SECONDS>    Close an idle keep-alive HTTP connection [default: 5]
      --close-timeout <SECONDS>         Cut a WebSocket whose close handshake takes longer
                                        [default: 30]
      --input-budget <BYTES>            Input all clients may have buffered at once; a
                                        message past it closes its client (1013) [default:
                                        67108864]
      --output-budget <BYTES>           Output queued for all clients at once; past it the
                                        slowest readers are closed (1008) [default:
                                        268435456]
      --room-hosts <N|auto>             Run WASM rooms in N child processes (process
                                        isolation on top of metering); 0 runs them metered
                                        and time sliced in this process; auto is one per
                                        CPU [default: 0]
      --rooms-per-host <N>              New WASM rooms past this many per host get 503; in
                                        this process, the idlest room hibernates to make room
                                        past this many awake [default: ${DEFAULT_ROOMS_PER_HOST}]
      --cpu-limit <SECONDS>             CPU one WASM event may use; past it only its room
                                        crashes (1011) [default: 2]
      --time-slice <MS>                 Suspend a WASM event that ran this long so other
                                        rooms run, then resume it; 0 runs events at once
                                        [default: 5]
      --memory-limit <MiB>              Memory one WASM room may grow to [default: ${
  DEFAULT_MAX_MEMORY_PAGES / 16
}]
      --wasm-memory-budget <MiB>        WASM memory all rooms together may hold; past it
                                        memory.grow fails in the guest and new rooms get
                                        503 [default: half of this machine's memory]
      --hibernate-after <SECONDS>       Snapshot a room that had no events this long and
                                        free its service; its clients stay connected and
                                        the next event restores it [default: off]
      --state <DIR>                     Keep rooms across restarts: snapshot every room to
                                        DIR on shutdown (SIGTERM); a room comes back with
                                        its state at its first connect
      --snapshot-every <SECONDS>        With --state (or --cluster: in its Redis), also
                                        snapshot the rooms that changed this often, so a
                                        crash loses at most that much [default: only at
                                        shutdown]

      --cluster <REDIS_URL>             Run as a node of the cluster on this Redis
                                        (redis://host:6379): each room on one node, any
                                        node takes any client
      --node-address <HOST:PORT>        Where this node listens for the other nodes, as
                                        they reach it [default: 127.0.0.1:0]
      --cluster-lease <SECONDS>         A node that stops renewing is gone after this
                                        long; its rooms then start elsewhere [default: ${
  DEFAULT_LEASE_MS / 1000
}]
      --placement <POLICY>              least-loaded, or local (the node the first client
                                        reached: behind a balancer hashing on the room)
                                        [default: least-loaded]`;

/** The parsed values of {@linkcode SERVE_FLAGS}. */
export type ServeFlagValues = {
  [K in keyof typeof SERVE_FLAGS]?: typeof SERVE_FLAGS[K] extends { multiple: true } ? string[]
    : typeof SERVE_FLAGS[K]["type"] extends "boolean" ? boolean
    : string;
};

type StringFlag = {
  [K in keyof typeof SERVE_FLAGS]: typeof SERVE_FLAGS[K] extends { multiple: true } ? never
    : typeof SERVE_FLAGS[K]["type"] extends "string" ? K
    : never;
}[keyof typeof SERVE_FLAGS];

/**
 * Check the flag values and build server options from them.
 *
 * @throws {UsageError} naming the flag and what was wrong with its value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveOptionsFrom } from "./serve_flags.ts";
 *
 * assert.equal(serveOptionsFrom({ port: "9000" }).port, 9000);
 * ```
 */
export function serveOptionsFrom(values: ServeFlagValues): ServeOptions {
  const options: ServeOptions = {
    port: integer(values, "port", 0, 65535),
    hostname: values.hostname,
    heartbeatInterval: number(values, "heartbeat-interval"),
    heartbeatTimeout: number(values, "heartbeat-timeout"),
    staticDir: folder(values, "static"),
    staticDotFiles: values["static-dotfiles"],
    maxRooms: integer(values, "max-rooms", 1, 10_000_000),
    maxClients: integer(values, "max-clients", 1, 10_000_000),
    listRooms: values["list-rooms"],
    record: values.record,
    maxMessageBytes: integer(values, "max-message-size", 1, 2 ** 31),
    maxMessagesPerSecond: number(values, "max-messages-per-second"),
    maxBufferedBytes: integer(values, "max-buffered-bytes", 1, 2 ** 40),
    maxConnections: integer(values, "max-connections", 1, 2 ** 31),
    headerTimeout: positive(values, "header-timeout"),
    keepAliveTimeout: positive(values, "keep-alive-timeout"),
    closeTimeout: positive(values, "close-timeout"),
    inputBudget: integer(values, "input-budget", 1, 2 ** 48),
    outputBudget: integer(values, "output-budget", 1, 2 ** 48),
    roomHosts: values["room-hosts"] === "auto"
      ? navigator.hardwareConcurrency
      : integer(values, "room-hosts", 0, 256),
    roomsPerHost: integer(values, "rooms-per-host", 1, 30000),
    cpuLimit: positive(values, "cpu-limit"),
    wasmMemoryBudget: mebibytes(values, "wasm-memory-budget"),
    timeSlice: number(values, "time-slice"),
    hibernateAfter: positive(values, "hibernate-after"),
    state: stateFolder(values.state),
    snapshotEvery: positive(values, "snapshot-every"),
  };
  if (values.cluster !== undefined && options.state !== undefined) {
    throw new UsageError(
      "'--state' cannot be used with '--cluster': a cluster keeps room snapshots in its Redis",
    );
  }
  if (
    options.snapshotEvery !== undefined && options.state === undefined &&
    values.cluster === undefined
  ) {
    throw new UsageError(
      "'--snapshot-every' needs '--state <DIR>' (the folder to save to) or '--cluster'",
    );
  }
  const lease = positive(values, "cluster-lease");
  if (lease !== undefined && lease < 0.2) {
    throw new UsageError(
      `Invalid value for '--cluster-lease': expected at least 0.2 seconds, got '${
        values["cluster-lease"]
      }'`,
    );
  }
  const placement = values.placement;
  if (placement !== undefined && placement !== "least-loaded" && placement !== "local") {
    throw new UsageError(
      `Invalid value for '--placement': expected least-loaded or local, got '${placement}'`,
    );
  }
  if (values.cluster === undefined) {
    for (const flag of ["node-address", "cluster-lease", "placement"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`'--${flag}' needs '--cluster'`);
    }
  } else {
    if (!/^rediss?:\/\/[^/]/.test(values.cluster)) {
      throw new UsageError(
        `Invalid value for '--cluster': expected redis://HOST:PORT, got '${values.cluster}'`,
      );
    }
    const address = values["node-address"];
    if (address !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(address)) {
      throw new UsageError(
        `Invalid value for '--node-address': expected HOST:PORT, got '${address}'`,
      );
    }
    options.cluster = {
      redis: values.cluster,
      nodeAddress: address,
      leaseMs: lease === undefined ? undefined : lease * 1000,
      placement,
      httpAddress: options.hostname && options.port
        ? `${options.hostname}:${options.port}`
        : undefined,
    };
  }
  try {
    if (values["allowed-origin"] !== undefined) {
      options.allowedOrigins = values["allowed-origin"];
      new OriginPolicy(options.allowedOrigins);
    }
    if (values.rooms !== undefined) options.rooms = parseRoomIdStrategy(values.rooms);
    if (values["shutdown-policy"] !== undefined) {
      options.shutdownPolicy = parseShutdownPolicy(values["shutdown-policy"]);
    }
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return options;
}

/**
 * The per-room memory ceiling from `--memory-limit` (MiB), in 64 KiB pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxMemoryPagesFrom } from "./serve_flags.ts";
 *
 * assert.equal(maxMemoryPagesFrom({ "memory-limit": "2" }), 32);
 * ```
 */
export function maxMemoryPagesFrom(values: ServeFlagValues): number | undefined {
  const mib = integer(values, "memory-limit", 1, 4096);
  return mib === undefined ? undefined : mib * 16;
}

/** A flag naming a folder that must exist. */
function folder(values: ServeFlagValues, flag: StringFlag): string | undefined {
  const path = values[flag];
  if (path === undefined) return undefined;
  let reason = "no such folder";
  try {
    if (Deno.statSync(path).isDirectory) return path;
    reason = "not a folder";
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) reason = (error as Error).message;
  }
  throw new UsageError(`Invalid value for '--${flag}': "${path}": ${reason}`);
}

/** `--state`: a folder that exists or can be made, and that this process can write. */
function stateFolder(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    Deno.mkdirSync(path, { recursive: true });
    const probe = `${path}/.jamsocket-write-check`;
    Deno.writeFileSync(probe, new Uint8Array());
    Deno.removeSync(probe);
    return path;
  } catch (error) {
    const reason = error instanceof Deno.errors.AlreadyExists
      ? "not a folder"
      : error instanceof Deno.errors.PermissionDenied
      ? "not writable"
      : (error as Error).message;
    throw new UsageError(`Invalid value for '--state': "${path}": ${reason}`);
  }
}

function mebibytes(values: ServeFlagValues, flag: StringFlag): number | undefined {
  const mib = integer(values, flag, 1, 2 ** 30);
  return mib === undefined ? undefined : mib * 2 ** 20;
}

function positive(values: ServeFlagValues, flag: StringFlag): number | undefined {
  const value = number(values, flag);
  if (value === 0) {
    throw new UsageError(`Invalid value for '--${flag}': expected a number > 0, got '0'`);
  }
  return value;
}

function number(values: ServeFlagValues, flag: StringFlag): number | undefined {
  const text = values[flag];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`Invalid value for '--${flag}': expected a number >= 0, got '${text}'`);
  }
  return value;
}

function integer(
  values: ServeFlagValues,
  flag: StringFlag,
  min: number,
  max: number,
): number | undefined {
  const value = number(values, flag);
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `Invalid value for '--${flag}': expected an integer from ${min} to ${max}, got '${
        values[flag]
      }'`,
    );
  }
  return value;
}
