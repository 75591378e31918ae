import assert from "node:assert/strict";
import type { LiveNode } from "../cluster/coordinator.ts";
import { Placement } from "../cluster/placement.ts";

function node(id: string, rooms: number, extra: Partial<LiveNode> = {}): LiveNode {
  return {
    id,
    link: `${id}:1`,
    http: "",
    rooms,
    clients: 0,
    draining: false,
    readyInMs: 0,
    ...extra,
  };
}

Deno.test("Placement puts a new room on the least-loaded live node, this one on a tie, and spreads a burst", () => {
  const placement = new Placement("least-loaded");
  placement.update([node("a", 4), node("b", 2), node("c", 3)]);
  assert.equal(placement.pick("a", 4)?.id, "b");
  assert.equal(placement.pick("a", 4)?.id, "b"); // b counted 3 now, ties with c: first wins
  assert.equal(placement.pick("a", 4)?.id, "c");
  assert.equal(placement.pick("b", 2), undefined, "the least loaded node keeps its rooms");
  assert.equal(placement.address("c"), "c:1");
  assert.equal(placement.isLive("d"), false);
});

Deno.test("Placement skips draining nodes and nodes within their first lease period", () => {
  const placement = new Placement("least-loaded");
  placement.update([
    node("a", 9),
    node("b", 0, { draining: true }),
    node("c", 1, { readyInMs: 60_000 }),
    node("d", 5),
  ]);
  assert.equal(placement.pick("a", 9)?.id, "d");
  // This node cannot claim yet: any node that can goes first, even a busier one.
  assert.equal(placement.pick("c", 1)?.id, "d");
  const local = new Placement("local");
  local.update([node("a", 9), node("b", 0)]);
  assert.equal(local.pick("a", 9), undefined);
});
