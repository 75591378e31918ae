/**
 * Server counters, rendered for `GET /metrics` in the Prometheus text format.
 *
 * @module
 */

/** Point-in-time values read when `/metrics` is scraped. */
export interface MetricsGauges {
  /** Rooms alive now. */
  rooms: number;
  /** Clients connected now. */
  clients: number;
  /** Events received by rooms and not yet handled by their services. */
  queueDepth: number;
  /** Room host processes running now (0 when every room runs in this process). */
  roomHosts: number;
  /** Rooms hibernated now (service freed, state saved, clients connected). */
  hibernated?: number;
}

/**
 * Counters the server updates as it works. Everything is a plain number increment, so the hot
 * path pays almost nothing; rendering happens only when `/metrics` is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 *
 * const metrics = new Metrics();
 * metrics.crashed("trap");
 * const text = metrics.render({ rooms: 1, clients: 2, queueDepth: 0, roomHosts: 0 });
 * assert.match(text, /jamsocket_room_crashes_total\{reason="trap"\} 1/);
 * ```
 */
export class Metrics {
  /** Frames received from clients. */
  messagesIn = 0;
  /** Payload bytes received from clients. */
  bytesIn = 0;
  /** Frames sent to clients (a broadcast counts once per recipient). */
  messagesOut = 0;
  /** Payload bytes sent to clients. */
  bytesOut = 0;
  /** Rooms created since start. */
  roomsCreated = 0;
  /** Room host processes started to replace one that was stopped or died. */
  roomHostRestarts = 0;
  /** Rooms hibernated (each time). */
  hibernations = 0;
  /** Snapshots written to the state store. */
  snapshotsSaved = 0;
  /** Bytes of the snapshots written to the state store. */
  snapshotBytesSaved = 0;
  /** Rooms restored from a stored snapshot (after a restart or a reload). */
  roomsRestored = 0;
  readonly #crashes = new Map<string, number>();
  readonly #closes = new Map<string, number>();
  readonly #refused = new Map<string, number>();

  /** Count a room crash, by kind (`trap`, `cpu_limit`, …: see `CrashKind`). */
  crashed(kind: string): void {
    this.#crashes.set(kind, (this.#crashes.get(kind) ?? 0) + 1);
  }

  /** Count a client the server closed, by reason (`too_big`, `rate_limit`, `too_slow`, …). */
  closedClient(reason: string): void {
    this.#closes.set(reason, (this.#closes.get(reason) ?? 0) + 1);
  }

  /** Count a stored snapshot refused at load, by reason (`corrupt`, `other_service`, …). */
  refusedSnapshot(reason: string): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  /** Render every metric in the Prometheus text exposition format (version 0.0.4). */
  render(gauges: MetricsGauges): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric("jamsocket_rooms", "gauge", "Rooms alive.", [["", gauges.rooms]]);
    metric("jamsocket_clients", "gauge", "Clients connected.", [["", gauges.clients]]);
    metric("jamsocket_queue_depth", "gauge", "Events waiting for their room's service.", [
      ["", gauges.queueDepth],
    ]);
    metric("jamsocket_room_hosts", "gauge", "Room host processes running.", [
      ["", gauges.roomHosts],
    ]);
    metric("jamsocket_rooms_created_total", "counter", "Rooms created.", [["", this.roomsCreated]]);
    metric("jamsocket_messages_in_total", "counter", "Frames received from clients.", [
      ["", this.messagesIn],
    ]);
    metric("jamsocket_bytes_in_total", "counter", "Payload bytes received from clients.", [
      ["", this.bytesIn],
    ]);
    metric("jamsocket_messages_out_total", "counter", "Frames sent to clients.", [
      ["", this.messagesOut],
    ]);
    metric("jamsocket_bytes_out_total", "counter", "Payload bytes sent to clients.", [
      ["", this.bytesOut],
    ]);
    metric(
      "jamsocket_room_crashes_total",
      "counter",
      "Rooms crashed, by reason.",
      labelled(
        "reason",
        this.#crashes,
      ),
    );
    metric(
      "jamsocket_clients_closed_total",
      "counter",
      "Clients closed by the server for breaking a limit, by reason.",
      labelled("reason", this.#closes),
    );
    metric("jamsocket_room_host_restarts_total", "counter", "Room host processes replaced.", [
      ["", this.roomHostRestarts],
    ]);
    metric("jamsocket_rooms_hibernated", "gauge", "Rooms hibernated (service freed).", [
      ["", gauges.hibernated ?? 0],
    ]);
    metric("jamsocket_room_hibernations_total", "counter", "Times a room hibernated.", [
      ["", this.hibernations],
    ]);
    metric("jamsocket_snapshots_saved_total", "counter", "Room snapshots stored.", [
      ["", this.snapshotsSaved],
    ]);
    metric("jamsocket_snapshot_bytes_saved_total", "counter", "Bytes of room snapshots stored.", [
      ["", this.snapshotBytesSaved],
    ]);
    metric("jamsocket_rooms_restored_total", "counter", "Rooms restored from a stored snapshot.", [
      ["", this.roomsRestored],
    ]);
    metric(
      "jamsocket_snapshots_refused_total",
      "counter",
      "Stored snapshots refused at load, by reason.",
      labelled("reason", this.#refused),
    );
    return lines.join("\n") + "\n";
  }
}

function labelled(label: string, counts: Map<string, number>): [string, number][] {
  return [...counts].map(([value, count]) => [`{${label}="${value}"}`, count]);
}
