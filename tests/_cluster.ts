/**
 * A cluster for a test: a real `redis-server` and nodes on 127.0.0.1 — in this process
 * (`startCluster`) or as `jamsocket serve` child processes (`startNodeProcess`).
 *
 * @module
 */

import type { Coordinator } from "../cluster/coordinator.ts";
import type { ServeOptions } from "../server.ts";
import ClusterService from "./fixtures/cluster_service.ts";
import { type CliProcess, startCli } from "./_cli.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { RedisServer } from "./_redis.ts";
import { startServer, type TestServer } from "./_server.ts";

/** The lease the tests use, in ms (short, so healing tests are quick). */
export const TEST_LEASE_MS = 1000;

/** The service module the node processes serve. */
export const CLUSTER_SERVICE = new URL("./fixtures/cluster_service.ts", import.meta.url).pathname;

/** A running test cluster. */
export interface TestCluster {
  readonly redis: RedisServer;
  readonly nodes: TestServer[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for each in-process node. */
export type NodeOptions = ServeOptions & { coordinator?: (url: string) => Coordinator };

/** Wait until `nodes` are registered and past their first lease period. */
export async function clusterReady(nodes: TestServer[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.server.handler.cluster!.registered));
  await waitUntil(async () => {
    const view = await (await fetch(`${nodes[0].http}/cluster`)).json();
    return view.nodes.length === nodes.length;
  }, "every node in the cluster view");
  await new Promise((resolve) => setTimeout(resolve, TEST_LEASE_MS + 100));
}

/** Start Redis and `count` nodes of the cluster service in this process. */
export async function startCluster(
  count: number,
  options: NodeOptions | ((index: number) => NodeOptions) = {},
): Promise<TestCluster> {
  const redis = await RedisServer.start();
  const nodes: TestServer[] = [];
  for (let i = 0; i < count; i++) {
    const { coordinator, ...rest } = typeof options === "function" ? options(i) : options;
    nodes.push(startServer(ClusterService, {
      ...rest,
      cluster: {
        redis: redis.url,
        leaseMs: TEST_LEASE_MS,
        coordinator: coordinator?.(redis.url),
        ...rest.cluster,
      },
    }));
  }
  await clusterReady(nodes);
  return {
    redis,
    nodes,
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((node) => node[Symbol.asyncDispose]()));
      await redis[Symbol.asyncDispose]();
    },
  };
}

/** Start `jamsocket serve` of the cluster service (or `service`) as a child process, named `name`. */
export async function startNodeProcess(
  redis: RedisServer,
  name: string,
  extra: string[] = [],
  service: string = CLUSTER_SERVICE,
): Promise<CliProcess> {
  const node = await startCli([
    "serve",
    service,
    "--cluster",
    redis.url,
    ...(extra.includes("--cluster-lease") ? [] : ["--cluster-lease", String(TEST_LEASE_MS / 1000)]),
    ...extra,
  ], { env: { NODE_NAME: name } });
  await node.waitFor(/Cluster: node \w+ registered/);
  return node;
}

/**
 * Start node processes named `names` (rooms placed where their first client lands, plus `extra`
 * flags), and wait until each is in the cluster view and past its first lease period.
 */
export async function startNodes(
  redis: RedisServer,
  names: string[],
  extra: string[] = [],
  service: string = CLUSTER_SERVICE,
): Promise<CliProcess[]> {
  const placement = extra.includes("--placement") ? [] : ["--placement", "local"];
  const started = await Promise.all(
    names.map((name) => startNodeProcess(redis, name, [...placement, ...extra], service)),
  );
  await waitUntil(async () => {
    const view = await (await fetch(`http://127.0.0.1:${started[0].port}/cluster`)).json();
    return view.nodes.length === names.length;
  }, "every node in the cluster view");
  const lease = extra.indexOf("--cluster-lease");
  const leaseMs = lease < 0 ? TEST_LEASE_MS : Number(extra[lease + 1]) * 1000;
  await new Promise((resolve) => setTimeout(resolve, leaseMs + 100));
  return started;
}

/** Stop node processes (resuming any that was paused first). */
export async function stopNodes(processes: CliProcess[]): Promise<void> {
  for (const process of processes) {
    try {
      process.process.kill("SIGCONT");
    } catch {
      // already gone
    }
  }
  await Promise.all(processes.map((process) => process.stop()));
}

/** `who` through `client`: [instance, client id, clients in the room, node name]. */
export async function who(client: TestClient): Promise<string[]> {
  client.send("who");
  return (await client.nextText()).split(" ");
}

/** Open a client at `url`, retrying while the cluster heals (bounded by `ms`). */
export async function connectWhenHealed(url: string, ms = 5000): Promise<TestClient> {
  const deadline = performance.now() + ms;
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      return await TestClient.open(url);
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`could not connect to ${url}`);
}

/** Headers of a WebSocket upgrade, for asking with `fetch` what the answer before it is. */
export const UPGRADE_HEADERS = {
  upgrade: "websocket",
  connection: "upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};
