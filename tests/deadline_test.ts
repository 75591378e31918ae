import assert from "node:assert/strict";
import { Deadline, TICK_MS } from "../util/deadline.ts";

/** Resolves after `ms`. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a deadline fires once, never early; moved, it fires at its new time; cancelled, never", async () => {
  const fired: string[] = [];
  const started = Date.now();
  const at: Record<string, number> = {};
  const make = (name: string) =>
    new Deadline(() => {
      fired.push(name);
      at[name] = Date.now() - started;
    });
  const plain = make("plain");
  const moved = make("moved");
  const cancelled = make("cancelled");
  plain.arm(120);
  moved.arm(40);
  moved.arm(200); // moved later: fires once, at 200
  cancelled.arm(60);
  cancelled.cancel();
  assert.equal(cancelled.armed, false);
  assert.equal(plain.armed, true);
  await sleep(200 + 3 * TICK_MS);
  assert.deepEqual(fired, ["plain", "moved"]);
  assert.ok(at.plain >= 120, `plain fired at ${at.plain} ms`);
  assert.ok(at.moved >= 200, `moved fired at ${at.moved} ms`);
  assert.equal(plain.armed, false);
  // Nothing is armed: the shared interval has stopped (the test's op sanitizer checks it).
});

Deno.test("a deadline armed by another's firing, even for 0 ms, fires on the next tick", async () => {
  const fired: string[] = [];
  const second = new Deadline(() => fired.push("second"));
  const first = new Deadline(() => {
    fired.push("first");
    second.arm(0);
  });
  first.arm(0);
  await sleep(4 * TICK_MS);
  assert.deepEqual(fired, ["first", "second"]);
});

Deno.test("a deadline whose callback throws does not stop the others of its tick", async () => {
  const fired: string[] = [];
  let reported: unknown;
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    reported = event.error;
  };
  globalThis.addEventListener("error", onError);
  try {
    new Deadline(() => {
      throw new Error("boom");
    }).arm(10);
    new Deadline(() => fired.push("after")).arm(10);
    await sleep(4 * TICK_MS);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  assert.deepEqual(fired, ["after"]);
  assert.equal((reported as Error).message, "boom");
});
