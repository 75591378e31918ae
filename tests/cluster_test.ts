import assert from "node:assert/strict";
import type { AcquireMode } from "../cluster/coordinator.ts";
import { LinkFrame, LinkWriter } from "../cluster/link_protocol.ts";
import { RedisCoordinator } from "../cluster/redis_coordinator.ts";
import { CloseCode } from "../room/close_code.ts";
import { TestClient, waitUntil, withTimeout } from "./_client.ts";
import { connectWhenHealed, startCluster, UPGRADE_HEADERS, who } from "./_cluster.ts";
import { RawSocket } from "./_raw_socket.ts";

async function metric(http: string, name: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  return Number(match?.[1]);
}

Deno.test("cluster: a broadcast reaches clients connected through three nodes, in one order", async () => {
  await using cluster = await startCluster(3);
  const [a, b, c] = cluster.nodes;
  const clients = [await a.connect("lobby"), await b.connect("lobby"), await c.connect("lobby")];
  const answers = [];
  for (const client of clients) answers.push(await who(client));
  // One instance, ids 1, 2, 3 in join order, whichever node each client reached.
  assert.equal(new Set(answers.map((w) => w[0])).size, 1);
  assert.deepEqual(answers.map((w) => w[1]), ["1", "2", "3"]);
  assert.equal(answers[2][2], "3");
  for (let i = 0; i < 300; i++) clients[i % 3].send(`broadcast m${i}`);
  const seen = await Promise.all(clients.map(async (client) => {
    const frames: string[] = [];
    for (let i = 0; i < 300; i++) frames.push(await client.nextText());
    return frames;
  }));
  assert.deepEqual(seen[1], seen[0]);
  assert.deepEqual(seen[2], seen[0]);
  // Each client's own messages keep their order.
  for (let sender = 0; sender < 3; sender++) {
    const own = seen[0].filter((m) => Number(m.slice(1)) % 3 === sender);
    assert.deepEqual(own, own.toSorted((x, y) => Number(x.slice(1)) - Number(y.slice(1))));
  }
  // Binary frames and the room's close code travel too.
  const bytes = new Uint8Array([1, 2, 3, 250]);
  clients[2].send(bytes);
  assert.deepEqual(await clients[2].next(), bytes);
  const forwarded = [a, b, c].map((n) => metric(n.http, "jamsocket_cluster_forwarded_clients"));
  assert.equal((await Promise.all(forwarded)).reduce((x, y) => x + y), 2);
  for (const client of clients) await client.close();
});

/** A Redis coordinator whose claims wait `delay` ms first, or hang while `hang` is set. */
class SlowClaims extends RedisCoordinator {
  delay = 0;
  hang = false;
  claims = 0;
  override async acquire(room: string, nodeId: string, mode: AcquireMode) {
    this.claims++;
    if (this.hang) return await new Promise<never>(() => {});
    await new Promise((resolve) => setTimeout(resolve, this.delay));
    return await super.acquire(room, nodeId, mode);
  }
}

Deno.test("cluster: two nodes racing to create one room (claims delayed 800 ms): one owner, the loser forwards", async () => {
  const coordinators: SlowClaims[] = [];
  await using cluster = await startCluster(2, {
    cluster: { placement: "local" },
    coordinator: (url) => {
      const coordinator = new SlowClaims(url);
      coordinator.delay = 800;
      coordinators.push(coordinator);
      return coordinator;
    },
  });
  const [a, b] = cluster.nodes;
  const [first, second] = await Promise.all([a.connect("race"), b.connect("race")]);
  const [one, two] = [await who(first), await who(second)];
  assert.equal(one[0], two[0], "two instances of one room");
  assert.deepEqual([one[1], two[1]].sort(), ["1", "2"]);
  assert.deepEqual(coordinators.map((c) => c.claims), [1, 1], "both nodes tried to claim");
  const rooms = [a, b].map((node) => node.server.handler.rooms().length);
  assert.deepEqual(rooms.toSorted(), [0, 1]);
  const loser = rooms[0] === 0 ? a : b;
  assert.equal(await metric(loser.http, "jamsocket_cluster_forwarded_clients"), 1);
  await first.close();
  await second.close();
});

Deno.test("cluster: a claim that times out never creates the room locally (Colyseus#978)", async () => {
  let slow: SlowClaims | undefined;
  await using cluster = await startCluster(1, {
    coordinator: (url) => slow = new SlowClaims(url),
  });
  const [a] = cluster.nodes;
  slow!.hang = true;
  const response = await fetch(`${a.http}/ws/stuck`, {
    headers: {
      upgrade: "websocket",
      connection: "upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "Cluster coordinator unavailable; try again");
  assert.equal(a.server.handler.rooms().length, 0);
  slow!.hang = false;
  const client = await a.connect("stuck");
  assert.equal((await who(client))[1], "1");
  await client.close();
});

Deno.test("cluster: forwarded frames are held to every limit, with the codes and reasons of one node", async () => {
  await using cluster = await startCluster(2, {
    maxMessageBytes: 100,
    maxMessagesPerSecond: 4,
    maxBufferedBytes: 1024 * 1024,
    cluster: { placement: "local" },
  });
  const [owner, entry] = cluster.nodes;
  const host = await owner.connect("limits");
  assert.equal((await who(host))[1], "1");
  // Size: 1009 with the room's reason; the room goes on.
  const big = await entry.connect("limits");
  big.send("é".repeat(50));
  assert.equal(await big.nextText(), "é".repeat(50));
  big.send("é".repeat(51));
  const tooBig = await big.waitClosed();
  assert.equal(tooBig.code, CloseCode.MessageTooBig);
  assert.equal(tooBig.reason, "Message of 102 bytes is over the limit of 100");
  // Rate: 1008.
  const fast = await entry.connect("limits");
  for (let i = 0; i < 4; i++) fast.send(`m${i}`);
  for (let i = 0; i < 4; i++) assert.equal(await fast.nextText(), `m${i}`);
  fast.send("one too many");
  const tooFast = await fast.waitClosed();
  assert.equal(tooFast.code, CloseCode.PolicyViolation);
  assert.equal(tooFast.reason, "Over the limit of 4 messages per second");
  // Buffered bytes: a forwarded client that stops reading is closed with 1008.
  const stalled = await RawSocket.connect(Number(new URL(entry.http).port), "/ws/limits");
  await waitUntil(() => owner.server.handler.rooms()[0]?.clients === 2, "the stalled client");
  let received = 0;
  const done = new Promise<void>((resolve) => {
    host.socket.onmessage = (event) => event.data === "done" ? resolve() : void received++;
  });
  host.send("flood 400"); // 400 × 16 KiB = 6.4 MiB towards the client that does not read
  await done;
  assert.equal(received, 400);
  assert.equal(await stalled.closeCode(10_000), CloseCode.PolicyViolation);
  const closed = await (await fetch(`${owner.http}/metrics`)).text();
  assert.match(closed, /^jamsocket_clients_closed_total\{reason="too_slow"\} 1$/m);
  assert.match(closed, /^jamsocket_clients_closed_total\{reason="rate_limit"\} 1$/m);
  // The entry node's front refuses an over-size message from its header, before forwarding it.
  const entryMetrics = await (await fetch(`${entry.http}/metrics`)).text();
  assert.match(entryMetrics, /^jamsocket_clients_closed_total\{reason="too_big"\} 1$/m);
  stalled.close();
  await host.close();
});

Deno.test("cluster: POST /ws/{id} is unique cluster-wide, rooms spread, 404s agree, the view lists every room", async () => {
  await using cluster = await startCluster(3, { rooms: "api", listRooms: true });
  const [a, b, c] = cluster.nodes;
  const post = (node: typeof a, path: string) => fetch(`${node.http}${path}`, { method: "POST" });
  const created = await post(a, "/ws/board");
  assert.equal(created.status, 200);
  assert.equal(await created.text(), "board");
  for (const node of [a, b, c]) {
    const again = await post(node, "/ws/board");
    assert.equal(again.status, 409);
    assert.equal(await again.text(), 'Room "board" already exists');
  }
  // Rooms spread: three more go to the less loaded nodes.
  for (const id of ["x", "y", "z"]) assert.equal((await post(c, `/ws/${id}`)).status, 200);
  const counts = [a, b, c].map((node) => node.server.handler.rooms().length);
  assert.deepEqual(counts.toSorted(), [1, 1, 2]);
  // A room that exists nowhere is 404 before the upgrade on every node; one that exists anywhere
  // can be joined through any node.
  for (const node of [a, b, c]) {
    await assert.rejects(node.connect("nowhere"), /closed before open/);
    const client = await node.connect("board");
    await client.close();
  }
  const clients = await Promise.all([a, b, c].map((node) => node.connect("board")));
  const instances = await Promise.all(clients.map(who));
  assert.equal(new Set(instances.map((w) => w[0])).size, 1);
  for (const client of clients) await client.close();
  const view = await (await fetch(`${b.http}/cluster/rooms`)).json();
  const listed = view.nodes.flatMap((n: { roomList: { id: string }[] }) =>
    n.roomList.map((r) => r.id)
  );
  assert.deepEqual(listed.toSorted(), ["board", "x", "y", "z"]);
});

Deno.test("cluster: generated room ids are unique cluster-wide, even when nodes draw the same ones", async () => {
  const ids = Array.from({ length: 20 }, (_, i) => String.fromCharCode(65 + i).repeat(3));
  // Each node creates the rooms asked of it (least-loaded placement reads the other nodes' loads
  // as of the last lease renewal, which may fall between two creations and move a room).
  await using cluster = await startCluster(3, () => {
    let next = 0;
    return {
      cluster: { placement: "local" },
      rooms: {
        name: "test",
        implicitCreation: false,
        explicitCreation: false,
        generate: () => ids[next++],
      },
    };
  });
  const generated: string[] = [];
  for (let i = 0; i < 9; i++) {
    const response = await fetch(`${cluster.nodes[i % 3].http}/new_room`, { method: "POST" });
    assert.equal(response.status, 200);
    generated.push(await response.text());
  }
  assert.deepEqual(generated, ids.slice(0, 9));
  const rooms = cluster.nodes.map((node) => node.server.handler.rooms().length);
  assert.deepEqual(rooms, [3, 3, 3]);
  const refused = await fetch(`${cluster.nodes[0].http}/ws/mine`, { method: "POST" });
  assert.equal(refused.status, 403);
});

Deno.test("cluster: auth runs on the entry node and its data reaches the owner; the owner's 503 arrives before the upgrade", async () => {
  await using cluster = await startCluster(2, {
    maxClients: 2,
    cluster: { placement: "local" },
    authenticate: (request) => {
      const name = new URL(request.url).searchParams.get("name");
      return name === null ? new Response("Who are you?", { status: 401 }) : { name };
    },
  });
  const [owner, entry] = cluster.nodes;
  const port = (node: typeof owner) => new URL(node.http).port;
  const first = await TestClient.open(`ws://127.0.0.1:${port(owner)}/ws/club?name=ann`);
  const second = await TestClient.open(`ws://127.0.0.1:${port(entry)}/ws/club?name=bob`);
  second.send("data");
  assert.equal(await second.nextText(), '{"name":"bob"}');
  const anonymous = await fetch(`${entry.http}/ws/club`, { headers: UPGRADE_HEADERS });
  assert.equal(anonymous.status, 401);
  assert.equal(await anonymous.text(), "Who are you?");
  const third = await fetch(`${entry.http}/ws/club?name=cy`, { headers: UPGRADE_HEADERS });
  assert.equal(third.status, 503);
  assert.equal(await third.text(), 'Room "club" is full (2 clients); try again later');
  // The cluster view lists both nodes and, with room listing, each node's rooms.
  const view = await (await fetch(`${entry.http}/cluster`)).json();
  assert.equal(view.nodes.length, 2);
  assert.equal(view.nodes.filter((n: { self: boolean }) => n.self).length, 1);
  await first.close();
  await second.close();
});

Deno.test("cluster: a forwarded client whose upgrade fails after its place was taken gives the place back", async () => {
  await using cluster = await startCluster(2, { maxClients: 2, cluster: { placement: "local" } });
  const [owner, entry] = cluster.nodes;
  const first = await owner.connect("pair");
  const { "sec-websocket-key": _, ...noKey } = UPGRADE_HEADERS;
  const broken = await fetch(`${entry.http}/ws/pair`, { headers: noKey });
  assert.equal(broken.status, 400);
  await broken.body?.cancel();
  // The place the owner reserved for it is released after the open timeout (5 s).
  const second = await connectWhenHealed(entry.ws("pair"), 8000);
  assert.equal((await who(second))[2], "2");
  await second.close();
  await first.close();
});

Deno.test("cluster: a link connection is heard only after its HELLO names a live node; GET /cluster shows no node id", async () => {
  await using cluster = await startCluster(2);
  const [a, b] = cluster.nodes;
  const ids = cluster.nodes.map((node) => node.server.handler.cluster!.id);
  const view = await (await fetch(`${b.http}/cluster`)).json();
  const text = JSON.stringify(view);
  for (const id of ids) assert.ok(!text.includes(id), `the view shows node id ${id}`);
  const link: string = view.nodes.find((n: { self: boolean }) => !n.self).link;
  // What reaches a's link port without a handshake, or with the id of no live node, is not
  // answered: a request for its rooms, a join, a frame too long for a HELLO.
  const framed = (write: (writer: LinkWriter) => void) => {
    const writer = new LinkWriter();
    write(writer);
    return writer.take();
  };
  const attempts: [string, Uint8Array][] = [
    ["a request", framed((w) => w.payload(LinkFrame.Request, 1, JSON.stringify({ op: "rooms" })))],
    ["a join", framed((w) => w.join(1, 1, "lobby", undefined))],
    [
      "an unknown node's HELLO",
      framed((w) => {
        w.hello("0123456789abcdef01234567", ids[0]);
        w.payload(LinkFrame.Request, 1, JSON.stringify({ op: "rooms" }));
      }),
    ],
    ["the start of a 100 MiB frame", new Uint8Array([0, 0, 0x40, 0x06, LinkFrame.Hello, 0, 0])],
  ];
  for (const [what, bytes] of attempts) {
    const colon = link.lastIndexOf(":");
    const conn = await Deno.connect({
      hostname: link.slice(0, colon),
      port: Number(link.slice(colon + 1)),
    });
    await conn.write(bytes);
    const buffer = new Uint8Array(1024);
    // At once, not at the end of the 2 s the handshake may take.
    const read = await withTimeout(conn.read(buffer), 1000, `${what}: the link to end`);
    assert.equal(read, null, `${what} got ${read} bytes back`);
    conn.close();
  }
  const client = await a.connect("lobby"); // a still serves
  await client.close();
});
