/**
 * The engine's snapshot seam: snapshots in queue order, pause / held events / replay elsewhere
 * (what a live move between nodes does), the fencing token in a snapshot's header; and the
 * TypeScript hooks' edge cases: former clients leave a restored room first, with their data; a
 * `restore()` that throws gives a fresh room; a `snapshot()` that throws or is too big never
 * takes a room down.
 */

import assert from "node:assert/strict";
import { LocalEngine } from "../room/local_engine.ts";
import type { RoomOutput } from "../room/room_engine.ts";
import { replayEvents, type ServiceSnapshots } from "../room/room_snapshot.ts";
import { typeScriptSnapshots } from "../runtime/service_snapshots.ts";
import { decodeSnapshot, encodeSnapshot, readHeader } from "../snapshot/snapshot_format.ts";
import { MemorySnapshotStore } from "../snapshot/snapshot_store.ts";
import {
  type ClientId,
  type JamsocketContext,
  type SavedState,
  toServiceFactory,
} from "../service.ts";
import { arrayLogger } from "../util/logger.ts";
import { loadWasmService } from "../wasm/host.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { startServer } from "./_server.ts";

/** Keeps every message it got; broadcasts the list after each. */
class Journal {
  lines: string[] = [];
  static restore(_roomId: string, _ctx: JamsocketContext, state: SavedState): Journal {
    const journal = new Journal();
    journal.lines = [...(state as { lines: string[] }).lines];
    return journal;
  }
  snapshot(): SavedState {
    return { lines: this.lines };
  }
  message(client: ClientId, text: string, ctx: JamsocketContext): void | Promise<void> {
    this.lines.push(`${client}:${text}`);
    ctx.sendMessage(0, this.lines.join(","));
  }
}

function collect(): { sent: unknown[]; output: RoomOutput } {
  const sent: unknown[] = [];
  return {
    sent,
    output: {
      send: (to, payload) => void sent.push([to, payload]),
      closeClient() {},
      setTimer: (ms) => void sent.push(["timer", ms]),
      crash: (error) => void sent.push(["crash", error.message]),
    },
  };
}

const journalSnapshots = typeScriptSnapshots(Journal) as ServiceSnapshots;

Deno.test("LocalEngine.snapshot runs in queue order: after the events before it, before those after", async () => {
  let release!: () => void;
  const slow = {
    lines: [] as string[],
    snapshot() {
      return { lines: this.lines };
    },
    message(client: ClientId, text: string): Promise<void> | undefined {
      this.lines.push(`${client}:${text}`);
      return text === "slow" ? new Promise<void>((resolve) => release = resolve) : undefined;
    },
  };
  const snapshots = typeScriptSnapshots(Object.assign(() => slow, { restore: () => slow }));
  const { output } = collect();
  const engine = new LocalEngine("r", () => slow, output, arrayLogger([]), {
    snapshots: snapshots as ServiceSnapshots,
  });
  engine.message(1, "slow");
  let bookkeeping = "";
  const snapshot = engine.snapshot(() => bookkeeping = slow.lines.join(","));
  engine.message(1, "after");
  assert.equal(bookkeeping, "", "not captured while an event runs");
  release();
  const state = await snapshot;
  assert.equal(bookkeeping, "1:slow");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(state.state)), { lines: ["1:slow"] });
  await engine.close();
  assert.deepEqual(slow.lines, ["1:slow", "1:after"]);
});

Deno.test("a paused room's snapshot and held events move to another engine: nothing lost, order kept", async () => {
  const logs: string[] = [];
  const a = collect();
  const factory = toServiceFactory(Journal);
  const source = new LocalEngine("room", factory, a.output, arrayLogger(logs), {
    snapshots: journalSnapshots,
  });
  source.connect(1);
  source.message(1, "one");
  await source.pause();
  source.message(1, "two");
  source.connect(2);
  source.message(2, "three");
  const state = await source.snapshot();
  // The snapshot goes over the wire with the new owner's fencing token in its header.
  const bytes = encodeSnapshot({
    roomId: "room",
    nextClientId: 3,
    timerMs: undefined,
    takenAt: Date.now(),
    service: state,
  }, 7);
  assert.equal(readHeader(bytes).fence, 7);
  const held = source.takeHeld();
  assert.deepEqual(held, [
    { type: "message", client: 1, text: "two" },
    { type: "connect", client: 2, data: undefined },
    { type: "message", client: 2, text: "three" },
  ]);
  await source.close();
  assert.deepEqual(a.sent, [[0, "1:one"]], "the source ran nothing after the pause");

  const b = collect();
  const { snapshot } = decodeSnapshot(bytes);
  const target = new LocalEngine("room", factory, b.output, arrayLogger(logs), {
    snapshots: journalSnapshots,
    restore: { state: snapshot.service, departed: false, timerMs: undefined },
  });
  replayEvents(target, held);
  await target.idle();
  assert.deepEqual(b.sent, [[0, "1:one,1:two"], [0, "1:one,1:two,2:three"]]);
  assert.deepEqual(await target.snapshot().then((s) => s.clients), [1, 2]);
  await target.close();
  assert.deepEqual(logs, []);
});

Deno.test("a WASM room moves the same way: pause, snapshot, held events replayed on a fresh instance", async () => {
  const service = await loadWasmService(new URL("../examples/wasm/counter.wasm", import.meta.url));
  const snapshots = service.roomSnapshots()!;
  const a = collect();
  const source = new LocalEngine("r", service.roomFactory(), a.output, arrayLogger([]), {
    snapshots,
  });
  source.message(1, "increment");
  await source.idle();
  await source.pause();
  source.message(1, "increment");
  const state = await source.snapshot();
  const held = source.takeHeld();
  await source.close();
  const b = collect();
  const target = new LocalEngine("r", service.roomFactory(), b.output, arrayLogger([]), {
    snapshots,
    restore: { state, departed: false, timerMs: undefined },
  });
  replayEvents(target, held);
  target.message(1, "increment");
  await target.idle();
  await target.close();
  assert.deepEqual(a.sent, [[0, "new value: 1"]]);
  assert.deepEqual(b.sent, [[0, "new value: 2"], [0, "new value: 3"]]);
});

/** Records what it hears, with client data, in a list the test reads. */
const heard: string[] = [];
class Listener {
  static restore(_roomId: string, ctx: JamsocketContext): Listener {
    heard.push(`restore clients=${ctx.clients.join(",")}`);
    return new Listener();
  }
  snapshot(): SavedState {
    return {};
  }
  connect(client: ClientId, ctx: JamsocketContext) {
    heard.push(`connect ${client} ${JSON.stringify(ctx.clientData(client))}`);
  }
  disconnect(client: ClientId, ctx: JamsocketContext) {
    heard.push(`disconnect ${client} ${JSON.stringify(ctx.clientData(client))}`);
  }
}

Deno.test("a restored room's service hears its former clients leave, with their data, before anyone joins", async () => {
  const state = new MemorySnapshotStore();
  const authenticate = (request: Request) => ({ name: new URL(request.url).searchParams.get("n") });
  {
    await using server = startServer(Listener, { state, authenticate });
    await TestClient.open(`${server.ws("r")}?n=ann`);
    const bob = await TestClient.open(`${server.ws("r")}?n=bob`);
    await bob.close();
    await waitUntil(() => server.server.handler.rooms()[0].clients === 1, "bob's leaving");
  }
  assert.deepEqual(heard.splice(0), [
    'connect 1 {"name":"ann"}',
    'connect 2 {"name":"bob"}',
    'disconnect 2 {"name":"bob"}',
  ]);
  await using server = startServer(Listener, { state, authenticate });
  const cid = await TestClient.open(`${server.ws("r")}?n=cid`);
  await cid.close();
  await waitUntil(() => server.server.handler.rooms()[0].clients === 0, "cid's leaving");
  await server.server.shutdown();
  assert.deepEqual(heard.splice(0), [
    "restore clients=1",
    'disconnect 1 {"name":"ann"}',
    'connect 3 {"name":"cid"}',
    'disconnect 3 {"name":"cid"}',
  ]);
});

Deno.test("a restore() that throws: one line, and the room starts fresh from the constructor", async () => {
  class Fragile extends Journal {
    static override restore(): Journal {
      throw new Error("state of an older version");
    }
  }
  const state = new MemorySnapshotStore();
  {
    await using server = startServer(Fragile, { state });
    const client = await server.connect("r");
    client.send("a");
    assert.equal(await client.nextText(), "1:a");
  }
  await using server = startServer(Fragile, { state });
  const client = await server.connect("r");
  client.send("b");
  // Fresh: the list starts again; the room's client ids go on (never reused while it lives).
  assert.equal(await client.nextText(), "2:b");
  await server.logger.waitFor(
    /^error Cannot restore room "r" from its snapshot: Error: state of an older version; the room starts fresh$/,
  );
  await client.close();
});

Deno.test("a snapshot() that throws: the room stays awake and says so once", async () => {
  class Broken extends Journal {
    override snapshot(): SavedState {
      throw new Error("cannot save this");
    }
  }
  await using server = startServer(Broken, { hibernateAfter: 0.02 });
  const client = await server.connect("r");
  client.send("a");
  assert.equal(await client.nextText(), "1:a");
  await server.logger.waitFor(/^warn Room "r" cannot hibernate: Error: cannot save this$/);
  // Several sweeps (every 10 ms) later: still one line (an absence, so a wait).
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(server.logger.lines.filter((line) => line.includes("cannot hibernate")).length, 1);
  client.send("b");
  assert.equal(await client.nextText(), "1:a,1:b");
  await client.close();
});

Deno.test("a snapshot() over the size limit fails with a line naming the limit", () => {
  const big = typeScriptSnapshots(Journal, 100) as ServiceSnapshots;
  const journal = new Journal();
  journal.lines.push("x".repeat(200));
  assert.throws(
    () => big.capture(journal, {} as JamsocketContext),
    /^RangeError: The service's snapshot\(\) is 214 bytes as JSON, over the limit of 100$/,
  );
  journal.lines[0] = "x";
  assert.equal(
    new TextDecoder().decode(big.capture(journal, {} as JamsocketContext) as Uint8Array),
    '{"lines":["x"]}',
  );
});
