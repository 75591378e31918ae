/**
 * What a cluster shows of itself: `GET /cluster` (the live nodes, from their leases; with room
 * listing, each node's rooms, asked of it over its link) and the cluster's lines in `/metrics`.
 *
 * @module
 */

import type { RoomInfo } from "../room/room.ts";
import type { RoomRegistry } from "../room/room_registry.ts";
import { describeError } from "../util/logger.ts";
import type { NodeParts } from "./_node_parts.ts";
import type { LiveNode } from "./coordinator.ts";
import { publicNodeName } from "./node_lease.ts";

/** A node as the cluster view shows it. */
export interface ClusterViewNode {
  /** The node's public name (`publicNodeName`: its id is its credential on the links). */
  readonly name: string;
  /** Its HTTP address, if it was told (`httpAddress`). */
  readonly http: string;
  /** Where the other nodes reach it. */
  readonly link: string;
  /** Rooms it runs, as of its last renewal. */
  readonly rooms: number;
  /** Clients connected to it, as of its last renewal. */
  readonly clients: number;
  /** It is draining (takes no new rooms). */
  readonly draining: boolean;
  /** This is the node that answered. */
  readonly self: boolean;
  /** The node's rooms (with room listing on), or why they could not be had. */
  readonly roomList?: readonly RoomInfo[] | { readonly error: string };
}

/** `GET /cluster`: the live nodes, from their leases. */
export interface ClusterView {
  /** The name of the node that answered. */
  readonly node: string;
  /** Every live node. */
  readonly nodes: readonly ClusterViewNode[];
}

/** The rooms of this node, as a listing shows them. */
export function roomList(registry: RoomRegistry): RoomInfo[] {
  return [...registry.rooms()].map((room) => room.info());
}

/**
 * The live nodes (fresh from the coordinator, or as last listed), and with `withRooms` each one's
 * rooms.
 */
export async function clusterView(parts: NodeParts, withRooms: boolean): Promise<ClusterView> {
  let nodes: readonly LiveNode[] = parts.placement.nodes;
  try {
    nodes = await parts.ask(parts.coordinator.nodes());
  } catch {
    // the last listing will do
  }
  const self = parts.lease.id;
  const views = await Promise.all(nodes.map(async (node): Promise<ClusterViewNode> => {
    const { id, http, link, rooms, clients, draining } = node;
    const view = {
      name: publicNodeName(id),
      http,
      link,
      rooms,
      clients,
      draining,
      self: id === self,
    };
    if (!withRooms) return view;
    try {
      const list = id === self
        ? roomList(parts.registry)
        : await (await parts.pool.get(id, link)).request({ op: "rooms" });
      return { ...view, roomList: list as RoomInfo[] };
    } catch (error) {
      const reason = describeError(error).replaceAll(id, view.name);
      return { ...view, roomList: { error: reason } };
    }
  }));
  return { node: publicNodeName(self), nodes: views };
}

/** The cluster's lines for `/metrics` (Prometheus text); `fenced` counts this node's lapses. */
export function clusterMetrics(parts: NodeParts, fenced: number): string {
  let links = 0;
  let remote = 0;
  for (const link of parts.pool.links()) {
    links++;
    remote += link.owned.size;
  }
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, value: number) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  metric(
    "jamsocket_cluster_nodes",
    "gauge",
    "Live nodes in the cluster.",
    parts.placement.nodes.length,
  );
  metric("jamsocket_cluster_links", "gauge", "Links open to other nodes.", links);
  metric(
    "jamsocket_cluster_forwarded_clients",
    "gauge",
    "Clients connected here whose room is on another node.",
    parts.stats.clients,
  );
  metric(
    "jamsocket_cluster_remote_clients",
    "gauge",
    "Clients in rooms here that connected through another node.",
    remote,
  );
  metric(
    "jamsocket_cluster_rooms_owned",
    "gauge",
    "Rooms this node holds a claim on.",
    parts.claims.size,
  );
  metric("jamsocket_cluster_fenced_total", "counter", "Times this node fenced itself.", fenced);
  return lines.join("\n") + "\n";
}
