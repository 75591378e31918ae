/**
 * The context a service in this process is handed: `ctx` of every hook.
 *
 * @module
 */

import { closeReason } from "./close_code.ts";
import type { RoomOutput } from "./room_engine.ts";
import { copyJsonValue } from "../util/json_value.ts";
import type { ClientData, ClientId, JamsocketContext, MessageRecipient } from "../service.ts";

/** A room's {@linkcode JamsocketContext}, over the room's output. */
export class LocalContext implements JamsocketContext {
  readonly roomId: string;
  readonly clients: ClientId[] = [];
  /** Data of the clients that have it, set at connect and by `setClientData`. */
  readonly data = new Map<ClientId, ClientData>();
  readonly #output: RoomOutput;
  readonly #maxDataBytes: number;

  constructor(roomId: string, output: RoomOutput, maxDataBytes: number) {
    this.roomId = roomId;
    this.#output = output;
    this.#maxDataBytes = maxDataBytes;
  }

  clientData<T extends ClientData = ClientData>(client: ClientId): T | undefined {
    return this.data.get(client) as T | undefined;
  }

  setClientData(client: ClientId, data: ClientData): void {
    if (!this.clients.includes(client)) return;
    this.data.set(client, copyJsonValue(data, this.#maxDataBytes) as ClientData);
  }

  closeClient(client: ClientId, code = 1000, reason = ""): void {
    if (code !== 1000 && !(code >= 3000 && code <= 4999 && Number.isInteger(code))) {
      throw new RangeError(`closeClient expects code 1000 or 3000-4999, got ${code}`);
    }
    this.#output.closeClient(client, code, closeReason(String(reason)));
  }

  sendMessage(recipient: MessageRecipient, message: string): void {
    if (typeof message !== "string") {
      throw new TypeError(`sendMessage expects a string, got ${typeof message}`);
    }
    this.#output.send(recipient, message);
  }

  sendBinary(recipient: MessageRecipient, message: Uint8Array): void {
    if (!(message instanceof Uint8Array)) {
      throw new TypeError(`sendBinary expects a Uint8Array, got ${typeof message}`);
    }
    this.#output.send(recipient, message);
  }

  setTimer(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`setTimer expects a number of ms >= 0, got ${ms}`);
    this.#output.setTimer(ms); // the room clamps it to what `setTimeout` can hold
  }

  /** Forget every client, then know `clients` (in join order) with their `data`. */
  reset(clients: readonly ClientId[], data: readonly (readonly [ClientId, ClientData])[]): void {
    this.clients.length = 0;
    this.clients.push(...clients);
    this.data.clear();
    for (const [client, value] of data) this.data.set(client, value);
  }
}
