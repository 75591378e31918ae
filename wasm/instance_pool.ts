/**
 * Instances of one metered module kept once their room has ended, made fresh again, for the
 * next room: a new room then skips `new WebAssembly.Instance` and the garbage collection that
 * V8 runs for every few hundred megabytes of WASM memory allocated, which together cost more
 * than the rest of opening a room (see `bench/room_creation_bench.ts`).
 *
 * An instance's state is its linear memory, its mutable globals, its tables and which passive
 * segments were dropped (see `_snapshot_layout.ts`). A pool is only made for a module whose code
 * changes no table and drops no segment, that imports nothing but functions and runs no code at
 * instantiation (metered: its start function is an event); so writing the initial memory image
 * and the globals' initial values back makes a used instance byte for byte what a fresh one is.
 * An instance whose memory grew, or whose room crashed or ended mid-event, is never given back.
 *
 * Its imports call through a table of host functions that is swapped at each reuse: the room
 * that holds an instance is the only one its calls reach.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { GLOBAL_EXPORT_PREFIX, type SavedGlobal } from "./_snapshot_layout.ts";

const PAGE = 65536;
const ZERO_PAGE = new Uint8Array(PAGE);

/** Host functions by import module and name, as `WebAssembly.Imports` holds them. */
export type HostFunctions = Record<string, Record<string, unknown>>;

/** An instance from a pool: its imports call the host functions it was last acquired with. */
export interface PooledInstance {
  readonly instance: WebAssembly.Instance;
  /** The host function each function import calls now, in import order. */
  readonly targets: ((...args: unknown[]) => unknown)[];
}

/** What a pool needs to know of its module. */
export interface InstancePoolOptions {
  readonly module: WebAssembly.Module;
  /** The memory a fresh instance holds (its data segments laid out), made once. */
  baseline(): Uint8Array;
  /** The module's mutable globals, exported for the host (see `_snapshot_layout.ts`). */
  readonly globals: readonly SavedGlobal[];
  /** The import wrapped in `WebAssembly.Suspending` (JS Promise Integration), if any. */
  readonly suspending?: { readonly module: string; readonly name: string };
  /** Most idle instances kept (each holds its memory: initial pages × 64 KiB). */
  readonly maxIdle: number;
}

/** JS Promise Integration, which Deno 2.9's lib does not type yet. */
const Suspending = (WebAssembly as unknown as {
  Suspending: new (fn: (...args: never[]) => unknown) => WebAssembly.ImportValue;
}).Suspending;

/** What a released instance's imports call: nothing may reach a room that has ended. */
function detached(): never {
  throw new Error("This WASM instance's room has ended");
}

/**
 * A pool of reusable instances of one module.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InstancePool } from "./instance_pool.ts";
 *
 * // (module (memory (export "memory") 1))
 * const bytes = [0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0];
 * const module = new WebAssembly.Module(new Uint8Array(bytes));
 * const pool = new InstancePool({ module, baseline: () => new Uint8Array(65536), globals: [], maxIdle: 4 });
 * const first = pool.acquire({});
 * new Uint8Array((first.instance.exports.memory as WebAssembly.Memory).buffer)[0] = 7;
 * pool.release(first);
 * const second = pool.acquire({});
 * assert.equal(second, first);
 * assert.equal(new Uint8Array((second.instance.exports.memory as WebAssembly.Memory).buffer)[0], 0);
 * ```
 */
export class InstancePool {
  readonly #options: InstancePoolOptions;
  readonly #imports: readonly WebAssembly.ModuleImportDescriptor[];
  readonly #idle: PooledInstance[] = [];
  /** The mutable globals' values in a fresh instance, read from the first one made. */
  #initialGlobals: (number | bigint)[] | undefined;
  /** Which pages of the initial image are all zero. */
  #zeroPages: boolean[] | undefined;

  constructor(options: InstancePoolOptions) {
    this.#options = options;
    this.#imports = WebAssembly.Module.imports(options.module);
  }

  /** Idle instances kept now. */
  get idle(): number {
    return this.#idle.length;
  }

  /**
   * A fresh instance whose imports call `host`: one given back earlier, or a new one. A host
   * that lacks a function the module imports is refused with the `LinkError` that instantiating
   * with it would throw.
   */
  acquire(host: HostFunctions): PooledInstance {
    const pooled = this.#idle.pop() ?? this.#instantiate(host);
    this.#imports.forEach((i, at) => {
      if (i.kind !== "function") return;
      const target = host[i.module]?.[i.name];
      if (typeof target !== "function") {
        this.release(pooled);
        throw new WebAssembly.LinkError(
          `WebAssembly.Instance(): Import #${at} "${i.module}" "${i.name}": function import requires a callable`,
        );
      }
      pooled.targets[at] = target as (...args: unknown[]) => unknown;
    });
    return pooled;
  }

  /**
   * Take back an instance whose room ended between events: made fresh and kept, unless its
   * memory grew or the pool is full (then it is left to the garbage collector).
   */
  release(used: PooledInstance): void {
    used.targets.fill(detached);
    if (this.#idle.length >= this.#options.maxIdle) return;
    const exports = used.instance.exports;
    const memory = exports.memory as WebAssembly.Memory;
    const image = this.#options.baseline();
    if (memory.buffer.byteLength !== image.length) return;
    this.#zeroPages ??= Array.from(
      { length: image.length / PAGE },
      (_, p) => Buffer.compare(image.subarray(p * PAGE, (p + 1) * PAGE), ZERO_PAGE) === 0,
    );
    resetMemory(new Uint8Array(memory.buffer), image, this.#zeroPages);
    this.#options.globals.forEach((global, at) => {
      (exports[GLOBAL_EXPORT_PREFIX + global.index] as WebAssembly.Global).value = this
        .#initialGlobals![at];
    });
    this.#idle.push(used);
  }

  /**
   * A new instance whose function imports call through its `targets`, each with as many
   * parameters as `host`'s function declares (V8 calls a JS import without an adapter when its
   * arity is the import's).
   */
  #instantiate(host: HostFunctions): PooledInstance {
    const targets: ((...args: unknown[]) => unknown)[] = [];
    const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
    const suspending = this.#options.suspending;
    this.#imports.forEach((i, at) => {
      if (i.kind !== "function") return;
      const arity = (host[i.module]?.[i.name] as ((...args: never[]) => unknown) | undefined)
        ?.length;
      const call = trampoline(targets, at, arity ?? -1);
      const wrapped = suspending?.module === i.module && suspending.name === i.name
        ? new Suspending(call)
        : call;
      (imports[i.module] ??= {})[i.name] = wrapped as WebAssembly.ImportValue;
    });
    const instance = new WebAssembly.Instance(this.#options.module, imports);
    const exports = instance.exports;
    this.#initialGlobals ??= this.#options.globals.map((global) =>
      (exports[GLOBAL_EXPORT_PREFIX + global.index] as WebAssembly.Global).value
    );
    return { instance, targets };
  }
}

/**
 * A function of `arity` parameters that calls `targets[at]` with them; for any other arity
 * (a function declared with rest parameters has length 0) one that passes all it is given.
 */
function trampoline(
  targets: ((...args: unknown[]) => unknown)[],
  at: number,
  arity: number,
): (...args: never[]) => unknown {
  switch (arity) {
    case 1:
      return (a: unknown) => targets[at](a);
    case 2:
      return (a: unknown, b: unknown) => targets[at](a, b);
    case 3:
      return (a: unknown, b: unknown, c: unknown) => targets[at](a, b, c);
    case 4:
      return (a: unknown, b: unknown, c: unknown, d: unknown) => targets[at](a, b, c, d);
    default:
      return (...args: unknown[]) => targets[at](...args);
  }
}

/**
 * Write `image` over `memory` (the same length), page by page, only where they differ: a page
 * the guest never touched is still the kernel's zero page, so comparing it costs little and it
 * stays out of the process's resident memory. Pages of the image that are all zero are compared
 * with one zero page, which stays in the CPU's cache.
 */
function resetMemory(memory: Uint8Array, image: Uint8Array, zero: readonly boolean[]): void {
  for (let p = 0, from = 0; from < memory.length; p++, from += PAGE) {
    const page = memory.subarray(from, from + PAGE);
    const fresh = zero[p] ? ZERO_PAGE : image.subarray(from, from + PAGE);
    if (Buffer.compare(page, fresh) !== 0) page.set(fresh);
  }
}
