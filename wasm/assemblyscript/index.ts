/**
 * The front door of the Jamsocket AssemblyScript SDK, imported as `jamsocket` (the build maps the
 * name; see `wasm/asc.ts`). Write a class extending `JamsocketService`, `register()` a factory for
 * it, and re-export `jamsocket/exports` from the entry file.
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

export {
  JamsocketContext,
  JamsocketService,
  MessageRecipient,
  register,
  roomContext,
  ServiceFactory,
} from "./jamsocket";
