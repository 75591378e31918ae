/**
 * Snapshots of TypeScript services, through their optional hooks: `snapshot()` on the service
 * (its state as JSON) and a static `restore(roomId, ctx, state)` on the class (or a `restore`
 * property on a factory). See `service.ts`.
 *
 * @module
 */

import type { ServiceSnapshots } from "../room/room_snapshot.ts";
import {
  isServiceClass,
  type JamsocketServiceClass,
  type JamsocketServiceFactory,
  type RestoreHook,
  type SavedState,
  type SimpleJamsocketService,
} from "../service.ts";
import { jsonText } from "../util/json_value.ts";

/** The largest state a TypeScript service's `snapshot()` may return, as JSON. */
export const MAX_SERVICE_STATE_BYTES = 64 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * How rooms of a TypeScript service are snapshotted, or why they cannot be (one line): its
 * identity is `ts:<name>` (the class's or factory's name), so a reloaded or restarted service of
 * the same name takes the state; its `restore` decides what to do with it. A `snapshot()` that
 * returns more than `maxStateBytes` of JSON fails (the room does not hibernate or save).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { typeScriptSnapshots } from "./service_snapshots.ts";
 *
 * class Plain {}
 * assert.equal(typeof typeScriptSnapshots(Plain), "string");
 * class Saved {
 *   static restore() {
 *     return new Saved();
 *   }
 *   snapshot() {
 *     return {};
 *   }
 * }
 * assert.equal(typeof typeScriptSnapshots(Saved), "object");
 * ```
 */
export function typeScriptSnapshots(
  service: JamsocketServiceClass | JamsocketServiceFactory,
  maxStateBytes: number = MAX_SERVICE_STATE_BYTES,
): ServiceSnapshots | string {
  const name = service.name || "service";
  const restore = (service as { restore?: unknown }).restore;
  const prototype = (service as { prototype?: Partial<SimpleJamsocketService> }).prototype;
  if (typeof restore !== "function") {
    return `service "${name}" has no static restore() (and snapshot()) hook`;
  }
  if (isServiceClass(service) && typeof prototype?.snapshot !== "function") {
    return `service "${name}" has a static restore() but its instances have no snapshot()`;
  }
  const hook = (restore as RestoreHook).bind(service);
  const text = (value: SavedState) =>
    encoder.encode(jsonText(value, maxStateBytes, "The service's snapshot()"));
  const parse = (state: Uint8Array): SavedState => JSON.parse(decoder.decode(state));
  return {
    service: `ts:${name}`,
    capture(instance, ctx) {
      if (typeof instance.snapshot !== "function") {
        throw new TypeError(`Service "${name}" has no snapshot() hook`);
      }
      const value = instance.snapshot(ctx);
      return value instanceof Promise ? value.then(text) : text(value);
    },
    check: (state) => void parse(state),
    restore: (roomId, ctx, state) => hook(roomId, ctx, parse(state)),
  };
}
