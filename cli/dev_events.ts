/**
 * What `jamsocket dev` tells the dev page as it happens, as a stream of server-sent events at
 * `GET /_jamsocket/events`: `hello` (this dev session's id), `build` (a build started, succeeded
 * or failed, with the compiler's output) and `rooms` (the rooms alive and their clients, sent
 * when it changes).
 *
 * @module
 */

import type { RoomInfo } from "../server.ts";

/** A build started. */
export interface BuildingEvent {
  readonly type: "building";
  /** Counts builds from 1 in this dev session. */
  readonly generation: number;
  /** The changed paths that started it (empty for the first build). */
  readonly changed: readonly string[];
}

/** A build succeeded and serves new rooms. */
export interface BuiltEvent {
  readonly type: "built";
  readonly generation: number;
  /** The line the terminal printed ("Built … in 1.20 s: …"). */
  readonly summary: string;
  /** Open rooms closed with 1012 so that their clients reconnect to the new build. */
  readonly restarted: number;
}

/** A build failed; the last good build (if any) keeps serving. */
export interface FailedEvent {
  readonly type: "failed";
  readonly generation: number;
  /** The first error, `file:line:column: message` where known. */
  readonly headline: string;
  /** The compiler's output. */
  readonly output: string;
  /** Whether an earlier build still serves rooms (else rooms crash with the headline). */
  readonly serving: boolean;
}

/** Anything the dev page hears about builds. */
export type DevEvent = BuildingEvent | BuiltEvent | FailedEvent;

/** What a `rooms` event carries of each room. */
export type DevRoom = Pick<RoomInfo, "id" | "clients" | "createdAt">;

/** Where the stream is served. */
export const DEV_EVENTS_PATH = "/_jamsocket/events";

const KEEPALIVE_MS = 15_000;
/** How often the room list is looked at while a page listens (it is sent only when it changed). */
const ROOMS_POLL_MS = 250;

/**
 * A hub of dev events: keeps the latest build's outcome and the latest event, and streams every
 * new one to each connected page. A page that connects (or reconnects after a restart of the
 * server) first gets a `hello` with this session's id, then the latest outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DevEvents } from "./dev_events.ts";
 *
 * const events = new DevEvents();
 * events.publish({ type: "building", generation: 1, changed: [] });
 * const response = events.stream();
 * assert.equal(response.headers.get("content-type"), "text/event-stream");
 * events.close();
 * await response.body?.cancel();
 * ```
 */
export class DevEvents {
  /** Tells one dev session from the next, so a page sees that the server restarted. */
  readonly session: string = crypto.randomUUID();
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #encoder = new TextEncoder();
  /** The last build's outcome, and a build running since, if any. */
  #outcome: BuiltEvent | FailedEvent | undefined;
  #running: BuildingEvent | undefined;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #roomsTimer: ReturnType<typeof setInterval> | undefined;
  #roomsSource: (() => readonly RoomInfo[]) | undefined;
  #roomsJson = "";
  #closed = false;

  /** Where the room list comes from (the server's handler); polled while a page listens. */
  watchRooms(source: () => readonly RoomInfo[]): void {
    this.#roomsSource = source;
    this.#roomsJson = this.#roomsFrame();
  }

  /** Send `event` to every page, and remember it for pages that connect later. */
  publish(event: DevEvent): void {
    if (event.type === "building") this.#running = event;
    else [this.#outcome, this.#running] = [event, undefined];
    this.#broadcast("build", event);
  }

  /** A `text/event-stream` response that streams events until the page leaves or `close()`. */
  stream(): Response {
    let self: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        if (this.#closed) return controller.close();
        this.#streams.add(controller);
        controller.enqueue(this.#frame("hello", { session: this.session }, "retry: 1000\n"));
        for (const event of [this.#outcome, this.#running]) {
          if (event) controller.enqueue(this.#frame("build", event));
        }
        if (this.#roomsSource) {
          this.#roomsJson = this.#roomsFrame();
          controller.enqueue(this.#encoder.encode(`event: rooms\ndata: ${this.#roomsJson}\n\n`));
        }
        this.#startTimers();
      },
      cancel: () => {
        this.#streams.delete(self);
        if (this.#streams.size === 0) this.#stopTimers();
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  }

  /** End every stream (so the server can shut down) and refuse new ones. */
  close(): void {
    this.#closed = true;
    this.#stopTimers();
    for (const controller of this.#streams) {
      try {
        controller.close();
      } catch {
        // already closed
      }
    }
    this.#streams.clear();
  }

  #broadcast(name: string, data: unknown): void {
    const frame = this.#frame(name, data);
    for (const controller of this.#streams) {
      try {
        controller.enqueue(frame);
      } catch {
        this.#streams.delete(controller);
      }
    }
  }

  #frame(name: string, data: unknown, prefix = ""): Uint8Array {
    return this.#encoder.encode(`${prefix}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #roomsFrame(): string {
    const rooms = (this.#roomsSource?.() ?? []).map(({ id, clients, createdAt }) => ({
      id,
      clients,
      createdAt,
    }));
    return JSON.stringify({ rooms });
  }

  #startTimers(): void {
    if (this.#keepalive !== undefined) return;
    this.#keepalive = setInterval(() => {
      const ping = this.#encoder.encode(": keepalive\n\n");
      for (const controller of this.#streams) {
        try {
          controller.enqueue(ping);
        } catch {
          this.#streams.delete(controller);
        }
      }
    }, KEEPALIVE_MS);
    Deno.unrefTimer(Number(this.#keepalive));
    if (!this.#roomsSource) return;
    this.#roomsTimer = setInterval(() => {
      const json = this.#roomsFrame();
      if (json === this.#roomsJson) return;
      this.#roomsJson = json;
      this.#broadcast("rooms", JSON.parse(json));
    }, ROOMS_POLL_MS);
    Deno.unrefTimer(Number(this.#roomsTimer));
  }

  #stopTimers(): void {
    clearInterval(this.#keepalive);
    clearInterval(this.#roomsTimer);
    this.#keepalive = this.#roomsTimer = undefined;
  }
}
