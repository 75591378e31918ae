import assert from "node:assert/strict";
import { HttpError } from "../http/http_error.ts";
import { parseRoomIdStrategy, shortRoomIdGenerator, validateRoomId } from "../room/room_id.ts";

Deno.test("shortRoomIdGenerator repeats no id until all 26^n are used, then refuses with 409", () => {
  const next = shortRoomIdGenerator(3);
  const seen = new Set<string>();
  for (let i = 0; i < 26 ** 3; i++) {
    const id = next();
    assert.match(id, /^[A-Z]{3}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 26 ** 3);
  assert.throws(next, (error) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 409);
    assert.equal(error.message, "Ran out of unique room IDs");
    return true;
  });
});

Deno.test("shortRoomIdGenerator starts at a random point", () => {
  const firsts = new Set(Array.from({ length: 20 }, () => shortRoomIdGenerator(6)()));
  assert.ok(firsts.size > 15, `only ${firsts.size} distinct first ids in 20 generators`);
});

Deno.test("parseRoomIdStrategy accepts the original names and refuses the rest", () => {
  assert.deepEqual(
    ["implicit", "api", "short", "short3", "short12", "uuid"].map((name) => {
      const s = parseRoomIdStrategy(name);
      return [s.name, s.implicitCreation, s.explicitCreation, s.generate !== undefined];
    }),
    [
      ["implicit", true, true, true],
      ["api", false, true, false],
      ["short", false, false, true],
      ["short3", false, false, true],
      ["short12", false, false, true],
      ["uuid", false, false, true],
    ],
  );
  for (const bad of ["short2", "short13", "shortx", "short04x", "blah", ""]) {
    assert.throws(
      () => parseRoomIdStrategy(bad),
      new RangeError(
        `Bad room ID strategy '${bad}', expected one of implicit, api, short, short<n> (3 <= n < 13), uuid`,
      ),
    );
  }
  assert.equal(parseRoomIdStrategy("short12").generate?.().length, 12);
});

Deno.test("validateRoomId accepts any printable id up to 256 bytes", () => {
  for (const ok of ["1", "lobby", "with space", "ünïcødé", "emoji 🎉", "a/b", "x".repeat(256)]) {
    validateRoomId(ok);
  }
  assert.throws(() => validateRoomId("x".repeat(257)), /longer than 256 bytes/);
  assert.throws(() => validateRoomId("tab\there"), /control character/);
});
