/**
 * Small services the tests share.
 *
 * @module
 */

import type { ClientId, JamsocketContext, SimpleJamsocketService } from "../service.ts";

/**
 * An echo service (text and bytes back to the sender) that records each connect and disconnect
 * in `events`, as `"connect 1"` / `"disconnect 1"`.
 */
export function recordingEcho(events: string[] = []): new () => SimpleJamsocketService {
  return class implements SimpleJamsocketService {
    connect(client: ClientId) {
      events.push(`connect ${client}`);
    }
    disconnect(client: ClientId) {
      events.push(`disconnect ${client}`);
    }
    message(client: ClientId, text: string, ctx: JamsocketContext) {
      ctx.sendMessage(client, text);
    }
    binary(client: ClientId, bytes: Uint8Array, ctx: JamsocketContext) {
      ctx.sendBinary(client, bytes);
    }
  };
}
