/**
 * Letting a WebSocket into a room: origin, room rules, auth hook, capacity — all answered before
 * the upgrade — then the upgrade and the join, which never throw.
 *
 * @module
 */

import type { RemoteJoin, RoomPlacement } from "../cluster/room_placement.ts";
import { authenticate } from "../http/authenticate.ts";
import { HttpError } from "../http/http_error.ts";
import { upgradeWebSocket } from "../http/upgrade.ts";
import type { OriginPolicy } from "../http/origins.ts";
import { closeSocket, SocketState } from "../room/client_socket.ts";
import { CloseCode, closeReason } from "../room/close_code.ts";
import type { RoomRegistry } from "../room/room_registry.ts";
import type { AuthenticateHook, ClientData } from "../service.ts";
import { Deadline } from "../util/deadline.ts";
import { describeError, type Logger } from "../util/logger.ts";

/** How long an upgraded socket may stay connecting before it is taken for a lost upgrade. */
const OPEN_TIMEOUT_MS = 5000;

/** What {@linkcode RoomAdmission} checks clients against. */
export interface AdmissionConfig {
  readonly logger: Logger;
  readonly origins: OriginPolicy;
  readonly authenticate: AuthenticateHook | undefined;
  readonly authTimeoutMs: number;
  readonly maxClientDataBytes: number;
  /** Deno's `idleTimeout` for the upgrade (the heartbeat), in seconds; 0 is off. */
  readonly idleTimeout: number;
  /** Largest message a client may send (the front decides it from frame headers). */
  readonly maxMessageBytes: number;
  /** In a cluster: where rooms live; a client of a room on another node is forwarded there. */
  readonly placement?: RoomPlacement;
}

/**
 * Admits WebSocket upgrades into rooms. Every refusal is an HTTP answer before the upgrade: 400
 * (not an upgrade), 403 (origin, auth), 404 (no such room), 503 (no capacity, room full, auth
 * timed out), or what the auth hook answered. Once upgraded, a client the room cannot take after
 * all is closed with a reason (1013 or 1011), never with a thrown error.
 *
 * @example
 * ```ts ignore
 * const admission = new RoomAdmission(registry, config);
 * const response = await admission.admit(request, "lobby");
 * ```
 */
export class RoomAdmission {
  readonly #registry: RoomRegistry;
  readonly #config: AdmissionConfig;
  /** The auth hook (replaced with the service on hot reload). */
  authenticate: AuthenticateHook | undefined;

  /** Admit into `registry`'s rooms under `config`. */
  constructor(registry: RoomRegistry, config: AdmissionConfig) {
    this.#registry = registry;
    this.#config = config;
    this.authenticate = config.authenticate;
  }

  /** Answer a WebSocket upgrade request for `roomId`. */
  async admit(request: Request, roomId: string): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(400, "Expected a WebSocket upgrade request (Upgrade: websocket)");
    }
    this.#config.origins.check(request);
    const placement = this.#config.placement;
    const route = placement ? await placement.locate(roomId) : undefined;
    if (route === undefined) this.#registry.checkJoinable(roomId);
    let data: ClientData | undefined;
    const hook = this.authenticate;
    if (hook !== undefined) {
      const verdict = await authenticate(hook, request, roomId, {
        timeoutMs: this.#config.authTimeoutMs,
        maxDataBytes: this.#config.maxClientDataBytes,
        logger: this.#config.logger,
      });
      if (verdict instanceof Response) return verdict;
      data = verdict.data;
    }
    let remote: RemoteJoin | undefined;
    if (route !== undefined) remote = await route.reserve(data);
    if (remote === undefined && (hook !== undefined || route !== undefined)) {
      this.#registry.checkJoinable(roomId);
    }
    let upgrade: { socket: WebSocket; response: Response };
    try {
      upgrade = upgradeWebSocket(request, {
        idleTimeout: this.#config.idleTimeout,
        maxMessageBytes: this.#config.maxMessageBytes,
      });
    } catch (error) {
      // RFC 6455 §4.2.2: another version is 426, naming the version this server speaks.
      const version = request.headers.get("sec-websocket-version");
      if (version !== null && version !== "13") {
        throw new HttpError(426, "WebSocket version 13 is required (Sec-WebSocket-Version)", {
          cause: error,
          headers: { "sec-websocket-version": "13" },
        });
      }
      const reason = error instanceof Error ? error.message.replace(/^Invalid Header: /, "") : "";
      throw new HttpError(400, `Invalid WebSocket upgrade request: ${reason}`, { cause: error });
    }
    if (remote !== undefined) remote(upgrade.socket);
    else this.#join(roomId, upgrade.socket, data);
    return upgrade.response;
  }

  /**
   * Put an upgraded socket into its room. Nothing may throw once the upgrade is under way (the
   * upgrade response must be returned), so a room that cannot take the client after all closes
   * the socket with a reason instead.
   */
  #join(roomId: string, socket: WebSocket, data: ClientData | undefined): void {
    const { logger } = this.#config;
    try {
      const room = this.#registry.forConnection(roomId);
      const id = room.accept(socket, data);
      const lost = new Deadline(() => {
        if (socket.readyState !== SocketState.Connecting) return;
        logger.error(
          `WebSocket to room "${roomId}" did not open within ${OPEN_TIMEOUT_MS} ms: the upgraded ` +
            "Request must be the one Deno.serve handed in, not a copy (new Request(request))",
        );
        room.closeClient(id, CloseCode.InternalError, "Upgrade did not complete");
      });
      lost.arm(OPEN_TIMEOUT_MS);
      const opened = socket.onopen;
      socket.onopen = (event) => {
        lost.cancel();
        socket.onopen = opened; // the open socket keeps nothing of its admission
        opened?.call(socket, event);
      };
    } catch (error) {
      const busy = error instanceof HttpError && error.status === 503;
      const reason = error instanceof HttpError ? error.message : "Internal server error";
      logger[busy ? "warn" : "error"](
        `Refused a client of room "${roomId}" after its upgrade: ${describeError(error)}`,
      );
      closeSocket(
        socket,
        busy ? CloseCode.TryAgainLater : CloseCode.InternalError,
        closeReason(reason),
      );
    }
  }
}
