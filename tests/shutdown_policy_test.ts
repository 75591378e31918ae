import assert from "node:assert/strict";
import { parseShutdownPolicy } from "../room/shutdown_policy.ts";

Deno.test("parseShutdownPolicy reads never, immediate and <n>sec", () => {
  assert.equal(parseShutdownPolicy("never"), "never");
  assert.equal(parseShutdownPolicy("immediate"), "immediate");
  assert.deepEqual(parseShutdownPolicy("30sec"), { afterMs: 30_000 });
  assert.deepEqual(parseShutdownPolicy("600sec"), { afterMs: 600_000 });
  assert.deepEqual(parseShutdownPolicy("0sec"), { afterMs: 0 });
});

Deno.test("parseShutdownPolicy refuses anything else with the original's message", () => {
  for (const bad of ["blah", "msec", "-1sec", "1.5sec", "30", "30 sec", "Never"]) {
    assert.throws(
      () => parseShutdownPolicy(bad),
      new RangeError(
        `Bad shutdown policy '${bad}', expected one of never, immediate, <n>sec (for integer n >= 0)`,
      ),
    );
  }
});
