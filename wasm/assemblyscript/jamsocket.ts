/**
 * The Jamsocket guest SDK for AssemblyScript: write a service as a class, register it, and the
 * module satisfies the Jamsocket WebAssembly ABI v1 (WASM_ABI.md), the ABI of the original Rust
 * `jamsocket-wasm` crate, so the same host runs it.
 *
 * This file is AssemblyScript, not TypeScript: `jamsocket dev` (`buildAssemblyScript()` in
 * `wasm/asc.ts`) compiles it together with the service, under the import name `jamsocket`.
 *
 * @example The shared counter
 * ```ts ignore
 * import { JamsocketService, MessageRecipient, register } from "jamsocket";
 * export * from "jamsocket/exports";
 *
 * class SharedCounterServer extends JamsocketService {
 *   private value: i32 = 0;
 *
 *   message(client: u32, message: string): void {
 *     if (message == "increment") this.value++;
 *     else if (message == "decrement") this.value--;
 *     this.ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.value}`);
 *   }
 * }
 *
 * register((roomId: string) => new SharedCounterServer());
 * ```
 */

import { hostSendBinary, hostSendMessage, hostSetTimer } from "./_host";

/**
 * Special message recipients: `MessageRecipient.Broadcast` (`0`) is every client in the room; any
 * other recipient is a client id. The same encoding as the TypeScript API and the Rust crate.
 *
 * @example
 * ```ts ignore
 * this.ctx.sendMessage(MessageRecipient.Broadcast, "hello, room");
 * ```
 */
export namespace MessageRecipient {
  /** Every client currently in the room. */
  export const Broadcast: u32 = 0;
}

/**
 * What a service may do in its room: the guest side of the TypeScript `JamsocketContext`. One
 * context exists per room (per module instance); a service reaches it as `this.ctx`, and a factory
 * receives it as its second argument.
 *
 * @example Greet each client, tick every second
 * ```ts ignore
 * class Greeter extends JamsocketService {
 *   constructor() {
 *     super();
 *     this.ctx.setTimer(1000);
 *   }
 *   connect(client: u32): void {
 *     this.ctx.sendMessage(client, "welcome to " + this.ctx.roomId);
 *   }
 *   timer(): void {
 *     this.ctx.sendMessage(MessageRecipient.Broadcast, "tick");
 *     this.ctx.setTimer(1000);
 *   }
 * }
 * ```
 */
export class JamsocketContext {
  /** The id of the room this service instance serves. */
  readonly roomId: string;
  /** The clients the service has seen connect and not yet seen disconnect, in join order. */
  readonly clients: u32[] = [];

  /**
   * A context for `roomId`. The SDK creates the one context of the room before it calls the
   * registered factory; services do not construct contexts.
   *
   * @example
   * ```ts ignore
   * const ctx = new JamsocketContext("room-1");
   * ```
   */
  constructor(roomId: string) {
    this.roomId = roomId;
  }

  /**
   * Send a text frame to one client, or to the whole room with `MessageRecipient.Broadcast`. The
   * text is encoded to UTF-8 once, outside the garbage-collected heap (lone surrogates become
   * U+FFFD); sends to departed clients are dropped by the host.
   *
   * @example
   * ```ts ignore
   * this.ctx.sendMessage(client, "pong");
   * ```
   */
  sendMessage(recipient: u32, message: string): void {
    const length = <usize>String.UTF8.byteLength(message);
    const buffer = heap.alloc(length);
    String.UTF8.encodeUnsafe(
      changetype<usize>(message),
      message.length,
      buffer,
      false,
      String.UTF8.ErrorMode.REPLACE,
    );
    hostSendMessage(recipient, buffer, length);
    heap.free(buffer);
  }

  /**
   * Send a binary frame to one client, or to the whole room with `MessageRecipient.Broadcast`. The
   * host copies the bytes straight out of `message` (no copy in the guest).
   *
   * @example
   * ```ts ignore
   * this.ctx.sendBinary(client, bytes);
   * ```
   */
  sendBinary(recipient: u32, message: Uint8Array): void {
    hostSendBinary(recipient, message.dataStart, <usize>message.byteLength);
  }

  /**
   * Arm the room's one timer: the service's `timer()` runs once after `ms` milliseconds. A second
   * call replaces the outstanding timer; the timer dies with the room.
   *
   * @example
   * ```ts ignore
   * this.ctx.setTimer(1000);
   * ```
   */
  setTimer(ms: u32): void {
    hostSetTimer(ms);
  }
}

/** The room's context while the module serves a room; set by `initialize`. */
let currentContext: JamsocketContext | null = null;

/**
 * The context of the room this module instance serves.
 *
 * @example
 * ```ts ignore
 * roomContext().sendMessage(MessageRecipient.Broadcast, "hello");
 * ```
 */
export function roomContext(): JamsocketContext {
  const ctx = currentContext;
  if (ctx == null) throw new Error("Jamsocket: no room yet (initialize has not run)");
  return ctx;
}

/**
 * A Jamsocket service: extend it and override the hooks you need; every hook is optional and does
 * nothing by default. One instance serves one room, one event at a time. An uncaught `throw`, a
 * failed `assert` or an out-of-bounds access traps: the host treats the room as crashed.
 *
 * @example An echo service
 * ```ts ignore
 * class Echo extends JamsocketService {
 *   message(client: u32, message: string): void {
 *     this.ctx.sendMessage(client, message);
 *   }
 *   binary(client: u32, message: Uint8Array): void {
 *     this.ctx.sendBinary(client, message);
 *   }
 * }
 * ```
 */
export abstract class JamsocketService {
  /** The room's context: its id and clients, sending, and the timer. Usable in the constructor. */
  readonly ctx: JamsocketContext = roomContext();

  /**
   * A client joined the room (it is already in `ctx.clients`).
   *
   * @example
   * ```ts ignore
   * connect(client: u32): void {
   *   this.ctx.sendMessage(client, "welcome");
   * }
   * ```
   */
  connect(client: u32): void {}

  /**
   * A client left the room (it is no longer in `ctx.clients`).
   *
   * @example
   * ```ts ignore
   * disconnect(client: u32): void {
   *   this.ctx.sendMessage(MessageRecipient.Broadcast, `${client} left`);
   * }
   * ```
   */
  disconnect(client: u32): void {}

  /**
   * A client sent a text frame.
   *
   * @example
   * ```ts ignore
   * message(client: u32, message: string): void {
   *   this.ctx.sendMessage(client, message);
   * }
   * ```
   */
  message(client: u32, message: string): void {}

  /**
   * A client sent a binary frame. `message` is the service's own copy; it may keep it.
   *
   * @example
   * ```ts ignore
   * binary(client: u32, message: Uint8Array): void {
   *   this.ctx.sendBinary(client, message);
   * }
   * ```
   */
  binary(client: u32, message: Uint8Array): void {}

  /**
   * The timer armed with `ctx.setTimer()` fired.
   *
   * @example
   * ```ts ignore
   * timer(): void {
   *   this.ctx.sendMessage(MessageRecipient.Broadcast, "tick");
   * }
   * ```
   */
  timer(): void {}
}

/**
 * Builds a room's service from its room id and context, like the TypeScript API's factory and the
 * Rust crate's `new(room_id, ctx)`. Trailing parameters may be left out.
 *
 * @example
 * ```ts ignore
 * const factory: ServiceFactory = (roomId: string) => new SharedCounterServer();
 * ```
 */
export type ServiceFactory = (roomId: string, ctx: JamsocketContext) => JamsocketService;

let registeredFactory: ServiceFactory | null = null;

/**
 * Register the module's service. Call it once, at the top level of the entry file (it runs from
 * the module's start function, before the host calls any export), next to
 * `export * from "jamsocket/exports"`.
 *
 * @example
 * ```ts ignore
 * register((roomId: string, ctx: JamsocketContext) => new SharedCounterServer());
 * ```
 */
export function register(factory: ServiceFactory): void {
  registeredFactory = factory;
}

// ---------------------------------------------------------------------------------------------
// The ABI (WASM_ABI.md). Re-exported, under these exact names, by `jamsocket/exports`.
// ---------------------------------------------------------------------------------------------

/**
 * The ABI version: the value of this global is the ADDRESS of an i32 holding `1`.
 *
 * @example
 * ```ts ignore
 * export { JAMSOCKET_API_VERSION } from "jamsocket/jamsocket";
 * ```
 */
export const JAMSOCKET_API_VERSION: usize = memory.data<i32>([1]);

/**
 * The ABI protocol: the value of this global is the ADDRESS of an i32 holding `0`.
 *
 * @example
 * ```ts ignore
 * export { JAMSOCKET_API_PROTOCOL } from "jamsocket/jamsocket";
 * ```
 */
export const JAMSOCKET_API_PROTOCOL: usize = memory.data<i32>([0]);

let service: JamsocketService | null = null;

function roomService(): JamsocketService {
  const current = service;
  if (current == null) throw new Error("Jamsocket: initialize has not run");
  return current;
}

/**
 * ABI: allocate `size` bytes for the host to write into. The block comes from the allocator, not
 * the garbage-collected heap, so no collection can free it before `jam_free`.
 *
 * @example
 * ```ts ignore
 * const ptr = jam_malloc(5);
 * ```
 */
export function jam_malloc(size: usize): usize {
  return heap.alloc(size);
}

/**
 * ABI: free a block returned by `jam_malloc`.
 *
 * @example
 * ```ts ignore
 * jam_free(ptr, 5);
 * ```
 */
export function jam_free(ptr: usize, size: usize): void {
  if (ptr != 0) heap.free(ptr);
}

/**
 * ABI: construct the room's service with the registered factory; the room id is UTF-8.
 *
 * @example
 * ```ts ignore
 * initialize(ptr, len); // ptr/len: "room-1" written by the host
 * ```
 */
export function initialize(ptr: usize, len: usize): void {
  const factory = registeredFactory;
  if (factory == null) {
    throw new Error("Jamsocket: no service registered (call register() in the entry file)");
  }
  const roomId = String.UTF8.decodeUnsafe(ptr, len);
  const ctx = new JamsocketContext(roomId);
  currentContext = ctx;
  service = factory(roomId, ctx);
}

/**
 * ABI: a client joined.
 *
 * @example
 * ```ts ignore
 * connect(1);
 * ```
 */
export function connect(client: u32): void {
  const current = roomService();
  current.ctx.clients.push(client);
  current.connect(client);
}

/**
 * ABI: a client left.
 *
 * @example
 * ```ts ignore
 * disconnect(1);
 * ```
 */
export function disconnect(client: u32): void {
  const current = roomService();
  const clients = current.ctx.clients;
  const index = clients.indexOf(client);
  if (index >= 0) clients.splice(index, 1);
  current.disconnect(client);
}

/**
 * ABI: a text message (UTF-8) from `client`.
 *
 * @example
 * ```ts ignore
 * message(1, ptr, len);
 * ```
 */
export function message(client: u32, ptr: usize, len: usize): void {
  const current = roomService();
  current.message(client, String.UTF8.decodeUnsafe(ptr, len));
}

/**
 * ABI: a binary message from `client`, copied out of the host's buffer before the hook runs.
 *
 * @example
 * ```ts ignore
 * binary(1, ptr, len);
 * ```
 */
export function binary(client: u32, ptr: usize, len: usize): void {
  const current = roomService();
  const bytes = new Uint8Array(<i32>len);
  memory.copy(bytes.dataStart, ptr, len);
  current.binary(client, bytes);
}

/**
 * ABI: the timer set with `set_timer` fired.
 *
 * @example
 * ```ts ignore
 * timer();
 * ```
 */
export function timer(): void {
  roomService().timer();
}
