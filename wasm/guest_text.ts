/**
 * Text a guest sends: validated as UTF-8 once, on the way out to the room's sockets.
 *
 * @module
 */

import type { Logger } from "../util/logger.ts";
import { decodeShortAscii } from "../util/utf8.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode a guest's `send_message` bytes. Text that is not valid UTF-8 is not sent: the problem is
 * logged with the room id and `undefined` returned, and the room goes on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGuestText } from "./guest_text.ts";
 * import { consoleLogger } from "../util/logger.ts";
 *
 * const logger = consoleLogger("error");
 * assert.equal(decodeGuestText(new Uint8Array([104, 105]), "r", 1, logger), "hi");
 * assert.equal(decodeGuestText(new Uint8Array([0xff]), "r", 1, logger), undefined);
 * ```
 */
export function decodeGuestText(
  utf8: Uint8Array,
  roomId: string,
  recipient: number,
  logger: Logger,
): string | undefined {
  try {
    return decodeShortAscii(utf8) ?? strictDecoder.decode(utf8);
  } catch {
    logger.warn(
      `Room "${roomId}": the guest sent ${utf8.length} bytes of text that are not valid UTF-8 to ${
        recipient === 0 ? "the room" : `client ${recipient}`
      }; not sent`,
    );
    return undefined;
  }
}
