/**
 * The Redis backend of the cluster's {@linkcode Coordinator}: one Lua script per operation, each
 * atomic in Redis (see `_redis_scripts.ts` for the keys). Works with a standalone Redis (or one
 * behind Sentinel); it reads keys its scripts do not declare, so Redis Cluster is not supported.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { withDeadline } from "./_deadline.ts";
import * as scripts from "./_redis_scripts.ts";
import type {
  AcquireMode,
  AcquireResult,
  Coordinator,
  LiveNode,
  NodeInfo,
  OwnedRoom,
  RenewResult,
  RoomOwner,
} from "./coordinator.ts";

/** Options of {@linkcode RedisCoordinator}. */
export interface RedisCoordinatorOptions {
  /**
   * Prefix of every key.
   * @default {"jamsocket:"}
   */
  readonly prefix?: string;
  /**
   * Lifetime of a room record that its owner stops refreshing (owners refresh theirs every third
   * of it); it only collects records nobody released, since a record counts only while its owner's
   * lease lives.
   * @default {600000}
   */
  readonly roomTtlMs?: number;
  /**
   * Lifetime of a room's last fencing token after its last claim.
   * @default {604800000}
   */
  readonly fenceTtlMs?: number;
  /**
   * Milliseconds one Redis call may take before it counts as failed.
   * @default {1000}
   */
  readonly timeoutMs?: number;
  /** Where connection trouble is logged (once per outage). */
  readonly logger?: Logger;
}

/** Most rooms refreshed by one script call. */
const REFRESH_BATCH = 500;

/**
 * Coordination on one Redis. The connection reconnects by itself; while it is down every call
 * fails at once (no offline queue), so nothing is acted on late.
 *
 * @example
 * ```ts ignore
 * const coordinator = new RedisCoordinator("redis://127.0.0.1:6379");
 * await coordinator.register({ id: "n1", link: "127.0.0.1:7001", http: "", rooms: 0, clients: 0, draining: false }, 3000);
 * console.log(await coordinator.nodes());
 * await coordinator.close();
 * ```
 */
/**
 * The part of `npm:redis`'s client the coordinator uses. The package is imported when the first
 * coordinator starts, so that a server that is not in a cluster never loads it.
 */
interface RedisClient {
  readonly isReady: boolean;
  on(event: "error" | "ready", listener: (error?: unknown) => void): unknown;
  connect(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export class RedisCoordinator implements Coordinator {
  /** The prefix of every key. */
  readonly prefix: string;
  /** See {@linkcode RedisCoordinatorOptions.roomTtlMs}. */
  readonly roomTtlMs: number;
  readonly #fenceTtlMs: number;
  readonly #timeoutMs: number;
  #client: RedisClient | undefined;
  readonly #shas = new Map<string, string>();
  #connecting: Promise<unknown>;
  #down = false;
  #closed = false;

  /** Connect to `url` (`redis://[user:password@]host:port[/db]`) in the background. */
  constructor(url: string, options: RedisCoordinatorOptions = {}) {
    this.prefix = options.prefix ?? "jamsocket:";
    this.roomTtlMs = options.roomTtlMs ?? 600_000;
    this.#fenceTtlMs = options.fenceTtlMs ?? 7 * 24 * 3600 * 1000;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    const logger = options.logger;
    this.#connecting = import("npm:redis@4.7.1").then(({ createClient }) => {
      const client = this.#client = createClient({
        url,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: this.#timeoutMs,
          noDelay: true,
          reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500),
        },
      }) as unknown as RedisClient;
      client.on("error", (error: unknown) => {
        if (this.#down || this.#closed) return;
        this.#down = true;
        logger?.warn(`Cluster: Redis at ${redact(url)} unreachable: ${describeError(error)}`);
      });
      client.on("ready", () => {
        if (this.#down) logger?.info(`Cluster: Redis at ${redact(url)} reachable again`);
        this.#down = false;
      });
      if (this.#closed) return;
      return client.connect();
    }).catch(() => {});
  }

  async register(node: NodeInfo, leaseMs: number): Promise<void> {
    await this.#run("register", scripts.REGISTER, this.#nodeKeys(node.id), [
      this.prefix,
      ...this.#nodeArgs(node, leaseMs),
    ]);
  }

  async renew(node: NodeInfo, leaseMs: number): Promise<RenewResult> {
    const reply = await this.#run("renew", scripts.RENEW, this.#nodeKeys(node.id), [
      this.prefix,
      ...this.#nodeArgs(node, leaseMs),
    ]);
    if (!Array.isArray(reply)) return { renewed: false };
    return { renewed: true, nodes: parseNodes(reply as string[]) };
  }

  async unregister(nodeId: string): Promise<void> {
    await this.#run("unregister", scripts.UNREGISTER, this.#nodeKeys(nodeId), [nodeId]);
  }

  async nodes(): Promise<LiveNode[]> {
    const reply = await this.#run("nodes", scripts.NODES, this.#nodeKeys(""), [this.prefix]);
    return parseNodes(reply as string[]);
  }

  async lookup(room: string): Promise<RoomOwner | undefined> {
    const reply = await this.#run("lookup", scripts.LOOKUP, [this.#roomKey(room)], [this.prefix]);
    return typeof reply === "string" ? parseOwner(reply) : undefined;
  }

  async acquire(room: string, nodeId: string, mode: AcquireMode): Promise<AcquireResult> {
    const reply = await this.#run("acquire", scripts.ACQUIRE, [
      this.#roomKey(room),
      this.#fenceKey(room),
    ], [this.prefix, nodeId, mode, String(this.roomTtlMs), String(this.#fenceTtlMs)]) as string[];
    const status = Number(reply[0]);
    if (status === 1) return { acquired: true, fence: Number(reply[1]) };
    if (status === 0) {
      return { acquired: false, owner: { node: String(reply[1]), fence: Number(reply[2]) } };
    }
    return { acquired: false, retryInMs: Number(reply[1]) };
  }

  async refresh(nodeId: string, rooms: readonly OwnedRoom[]): Promise<string[]> {
    const lost: string[] = [];
    for (let start = 0; start < rooms.length; start += REFRESH_BATCH) {
      const batch = rooms.slice(start, start + REFRESH_BATCH);
      const reply = await this.#run(
        "refresh",
        scripts.REFRESH,
        batch.map(({ room }) => this.#roomKey(room)),
        [nodeId, String(this.roomTtlMs), ...batch.map(({ fence }) => String(fence))],
      ) as number[];
      for (const index of reply) lost.push(batch[Number(index) - 1].room);
    }
    return lost;
  }

  async release(room: string, nodeId: string, fence: number): Promise<boolean> {
    const reply = await this.#run("release", scripts.RELEASE, [this.#roomKey(room)], [
      nodeId,
      String(fence),
    ]);
    return Number(reply) === 1;
  }

  async transfer(
    room: string,
    from: string,
    fence: number,
    to: string,
  ): Promise<number | undefined> {
    const reply = await this.#run("transfer", scripts.TRANSFER, [
      this.#roomKey(room),
      this.#fenceKey(room),
    ], [
      this.prefix,
      from,
      String(fence),
      to,
      String(this.roomTtlMs),
      String(this.#fenceTtlMs),
    ]);
    return typeof reply === "string" ? Number(reply) : undefined;
  }

  /**
   * Run a Lua script on this coordinator's connection, by its SHA, bounded in time: for stores
   * that share the connection (room snapshots, `redis_snapshot_store.ts`).
   */
  script(what: string, source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#run(what, source, keys, args);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    if (client === undefined) {
      await this.#connecting;
      return;
    }
    if (client.isReady) {
      try {
        await withDeadline(client.quit(), this.#timeoutMs, "Redis QUIT");
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    // Not connected (or QUIT hung): stop reconnecting and drop the socket.
    await client.disconnect().catch(() => {});
    await this.#connecting;
  }

  #nodeKeys(id: string): string[] {
    return [`${this.prefix}node:${id}`, `${this.prefix}nodes`];
  }

  #nodeArgs(node: NodeInfo, leaseMs: number): string[] {
    return [
      node.id,
      String(Math.round(leaseMs)),
      node.link,
      node.http,
      String(node.rooms),
      String(node.clients),
      node.draining ? "1" : "0",
    ];
  }

  #roomKey(room: string): string {
    return `${this.prefix}room:${room}`;
  }

  #fenceKey(room: string): string {
    return `${this.prefix}fence:${room}`;
  }

  /** Run a script by its SHA, loading it on first use and after Redis forgot it (a restart). */
  async #run(what: string, source: string, keys: string[], args: string[]): Promise<unknown> {
    const call = async () => {
      const sha = this.#shas.get(source);
      if (sha !== undefined) {
        try {
          return await this.#client!.evalSha(sha, { keys, arguments: args });
        } catch (error) {
          if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
        }
      }
      const reply = await this.#client!.eval(source, { keys, arguments: args });
      this.#shas.set(source, await sha1(source));
      return reply;
    };
    return await withDeadline(this.#connecting.then(call), this.#timeoutMs, `Redis ${what}`);
  }
}

function parseNodes(flat: string[]): LiveNode[] {
  const nodes: LiveNode[] = [];
  for (let i = 0; i + 6 < flat.length; i += 7) {
    nodes.push({
      id: String(flat[i]),
      link: String(flat[i + 1]),
      http: String(flat[i + 2]),
      rooms: Number(flat[i + 3]),
      clients: Number(flat[i + 4]),
      draining: flat[i + 5] === "1",
      readyInMs: Number(flat[i + 6]),
    });
  }
  return nodes;
}

function parseOwner(record: string): RoomOwner {
  const space = record.indexOf(" ");
  return { node: record.slice(0, space), fence: Number(record.slice(space + 1)) };
}

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A Redis URL without its password, for logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
