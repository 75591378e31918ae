import assert from "node:assert/strict";
import { CloseCode } from "../room/close_code.ts";
import { loadWasmService, type WasmService } from "../wasm/host.ts";
import type { ServeOptions } from "../server.ts";
import { TestClient, waitUntil } from "./_client.ts";
import { childCpuTicks, startCli } from "./_cli.ts";
import { fixture } from "./_fixtures.ts";
import { startServer, type TestServer } from "./_server.ts";

async function isolated(
  module: Uint8Array,
  options: ServeOptions = {},
  serviceOptions: { maxMemoryPages?: number } = {},
): Promise<{ server: TestServer; service: WasmService }> {
  const server = startServer(() => ({}), { roomHosts: 2, cpuLimit: 0.5, ...options });
  const service = await loadWasmService(module, { logger: server.logger, ...serviceOptions });
  await server.server.handler.replaceService(service);
  return { server, service };
}

async function echo(client: TestClient, text: string): Promise<number> {
  const started = performance.now();
  client.send(text);
  assert.equal(await client.next(), text);
  return performance.now() - started;
}

/** Write a module to a temp file for the CLI. */
async function moduleFile(bytes: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  await Deno.writeFile(path, bytes);
  return path;
}

/** A client of a CLI server. */
function cliClient(port: number, room: string): Promise<TestClient> {
  return TestClient.open(`ws://127.0.0.1:${port}/ws/${room}`);
}

Deno.test("room hosts run WASM rooms in child processes, and rooms answer as in-process ones", async () => {
  const { server } = await isolated(await fixture("echo"));
  const a = await server.connect("a");
  const b = await server.connect("b");
  assert.equal(await a.next(), "hello");
  assert.equal(await b.next(), "hello");
  await echo(a, "from a");
  await echo(b, "from b ✓");
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_room_hosts 2$/m);
  assert.match(metrics, /^jamsocket_rooms 2$/m);
  await Promise.all([a.close(), b.close()]);
  await server[Symbol.asyncDispose]();
});

/** Echo prompt replies in `healthy` for `ms`; returns the slowest reply and the count. */
async function keepEchoing(healthy: TestClient, ms: number): Promise<[number, number]> {
  let slowest = 0;
  let replies = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    slowest = Math.max(slowest, await echo(healthy, `ping ${replies++}`));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return [slowest, replies];
}

const WATCHDOG_REASON = "Room host stopped: an event ran past the CPU limit of 0.5 s";
const METERED_REASON = 'WASM guest ran past the CPU limit of 0.5 s in "connect"';

Deno.test("jamsocket serve runs WASM rooms metered in-process: a room that spins is stopped at the CPU limit while another keeps answering", async () => {
  const path = await moduleFile(await fixture("hog"));
  const cli = await startCli(["serve", path, "--cpu-limit", "0.5"]);
  const healthy = await cliClient(cli.port, "healthy");
  await echo(healthy, "warm");
  assert.equal((await childCpuTicks(cli.process.pid)).size, 0, "no room host by default");

  // Like the original cpu-hog, the guest spins in connect (in rooms named "hog…"). Time slicing
  // lets the healthy room in the same process answer throughout.
  const hog = await cliClient(cli.port, "hog");
  const closed = hog.waitClosed();
  const [slowest, replies] = await keepEchoing(healthy, 300);
  assert.ok(replies >= 10, `only ${replies} replies while the other room spun`);
  assert.ok(slowest < 1000, `a reply took ${slowest.toFixed(0)} ms while the other room spun`);
  const event = await closed;
  assert.deepEqual([event.code, event.reason], [CloseCode.InternalError, METERED_REASON]);
  await cli.waitFor(/Room "hog" crashed \(cpu_limit\)/);

  // The id is not stuck, and a room that spins on a message is usable again afterwards.
  const other = await cliClient(cli.port, "other");
  await echo(other, "warm");
  other.send("spin");
  assert.equal((await other.waitClosed()).code, CloseCode.InternalError);
  const reopened = await cliClient(cli.port, "other");
  await echo(reopened, "usable again");
  await echo(healthy, "fine");
  const metrics = await (await fetch(`http://127.0.0.1:${cli.port}/metrics`)).text();
  assert.match(metrics, /^jamsocket_room_crashes_total\{reason="cpu_limit"\} 2$/m);
  await Promise.all([healthy.close(), reopened.close()]);
  assert.equal((await cli.stop()).code, 0);
  await Deno.remove(path);
});

Deno.test("in room hosts, a metered room that spins crashes alone at the CPU limit; its host lives", async () => {
  const path = await moduleFile(await fixture("hog"));
  const cli = await startCli(["serve", path, "--room-hosts", "1", "--cpu-limit", "0.5"]);
  const healthy = await cliClient(cli.port, "healthy");
  await echo(healthy, "warm");
  const hog = await cliClient(cli.port, "hog");
  const event = await hog.waitClosed();
  assert.deepEqual([event.code, event.reason], [CloseCode.InternalError, METERED_REASON]);
  // The healthy room shares the one host: it waited for the spin, and it is still there.
  await echo(healthy, "same host, still alive");
  const metrics = await (await fetch(`http://127.0.0.1:${cli.port}/metrics`)).text();
  assert.match(metrics, /^jamsocket_room_host_restarts_total 0$/m);
  await healthy.close();
  assert.equal((await cli.stop()).code, 0);
  await Deno.remove(path);
});

Deno.test("an unmetered room that spins in a room host is stopped by the watchdog, which kills its host", async () => {
  const server = startServer(() => ({}), { roomHosts: 2, cpuLimit: 0.5 });
  const service = await loadWasmService(await fixture("hog"), {
    logger: server.logger,
    metering: false,
  });
  await server.server.handler.replaceService(service);
  // Both hosts must be up, or both rooms would go to the one that is (a loaded machine starts
  // processes slowly) and the healthy room would share the hog's fate.
  const bothHostsUp = () =>
    waitUntil(
      async () => {
        const text = await (await fetch(`${server.http}/metrics`)).text();
        return /^jamsocket_room_hosts 2$/m.test(text);
      },
      "both room hosts",
      15_000,
    );
  await bothHostsUp();
  const healthy = await server.connect("healthy");
  await echo(healthy, "warm");
  const hog = await server.connect("hog");
  const [slowest, replies] = await keepEchoing(healthy, 700);
  // Without isolation there would be no reply at all: the hog never returns.
  assert.ok(replies >= 10, `only ${replies} replies while the other room spun`);
  assert.ok(slowest < 1000, `a reply took ${slowest.toFixed(0)} ms while the other room spun`);
  const event = await hog.waitClosed();
  assert.deepEqual([event.code, event.reason], [CloseCode.InternalError, WATCHDOG_REASON]);
  await server.logger.waitFor(/made no progress for 0\.5 s \(CPU limit\); stopping it/);
  // The killed host's replacement must be up too, or the second hog would join the healthy room's.
  await bothHostsUp();
  const again = await server.connect("hog");
  assert.equal((await again.waitClosed()).reason, WATCHDOG_REASON);
  await echo(healthy, "fine");
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^jamsocket_room_host_restarts_total 2$/m);
  assert.match(metrics, /^jamsocket_room_crashes_total\{reason="cpu_limit"\} 2$/m);
  await healthy.close();
  await server.server.shutdown();
});

Deno.test("room hosts enforce the per-room memory ceiling", async () => {
  const { server } = await isolated(await fixture("grow_memory"), {}, { maxMemoryPages: 4 });
  const client = await server.connect("g");
  assert.equal(await client.next(), "hello");
  client.send("grow");
  assert.equal(await client.next(), "grew 3");
  await client.close();
  await server[Symbol.asyncDispose]();
});

Deno.test("past the rooms-per-host ceiling, a new room gets 503 and the process lives", async () => {
  const { server } = await isolated(await fixture("echo"), { roomsPerHost: 1 });
  const a = await server.connect("a");
  const b = await server.connect("b");
  assert.equal(await a.next(), "hello");
  const refused = await fetch(`${server.http}/ws/c`, { method: "POST" });
  assert.equal(refused.status, 503);
  assert.equal(await refused.text(), "Server is at capacity (2 rooms); try again later");
  await echo(a, "fine");
  await Promise.all([a.close(), b.close()]);
  await server[Symbol.asyncDispose]();
});

Deno.test("a room host that dies crashes only its rooms and is replaced", async () => {
  const path = await moduleFile(await fixture("echo"));
  const cli = await startCli(["serve", path, "--room-hosts", "2"]);
  const first = await cliClient(cli.port, "first");
  const second = await cliClient(cli.port, "second");
  await first.next();
  await second.next();
  const pids = [...(await childCpuTicks(cli.process.pid)).keys()];
  assert.equal(pids.length, 2);
  Deno.kill(pids[0], "SIGKILL");
  const event = await Promise.race([first.waitClosed(), second.waitClosed()]);
  assert.equal(event.code, CloseCode.InternalError);
  assert.equal(event.reason, "Room host exited unexpectedly (signal SIGKILL)");
  const survivor = first.socket.readyState === WebSocket.OPEN ? first : second;
  await echo(survivor, "unharmed");
  const fresh = await cliClient(cli.port, "third");
  assert.equal(await fresh.next(), "hello");
  await Promise.all([survivor.close(), fresh.close()]);
  assert.equal((await cli.stop()).code, 0);
  await Deno.remove(path);
});

Deno.test("SIGTERM closes clients with 1001, stops every room host and exits 0", async () => {
  const path = await moduleFile(await fixture("echo"));
  const cli = await startCli(["serve", path, "--room-hosts", "2"]);
  const client = await cliClient(cli.port, "bye");
  await client.next();
  assert.equal((await childCpuTicks(cli.process.pid)).size, 2);
  const hosts = [...(await childCpuTicks(cli.process.pid)).keys()];
  const status = await cli.stop();
  assert.equal((await client.waitClosed()).code, CloseCode.GoingAway);
  assert.equal(status.code, 0);
  for (const pid of hosts) {
    assert.equal(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), false);
  }
  await Deno.remove(path);
});

Deno.test("room hosts that die while starting are restarted with a growing delay, not in a loop", async () => {
  const server = startServer(() => ({}), {
    roomHosts: 1,
    roomHostCommand: ["sh", "-c", "echo cannot start >&2; exit 3", "host"],
  });
  await server.server.handler.replaceService(
    await loadWasmService(await fixture("echo"), { logger: server.logger }),
  );
  await server.logger.waitFor(/^error Room host 1: cannot start$/);
  await server.logger.waitFor(/exited unexpectedly \(code 3\); starting another in 250 ms$/);
  await server.logger.waitFor(/exited unexpectedly \(code 3\); starting another in 500 ms$/);
  const refused = await fetch(`${server.http}/ws/x`, { method: "POST" });
  assert.equal(refused.status, 503);
  // No host runs, so the pool has room for none: refused before any host is asked.
  assert.equal(await refused.text(), "Server is at capacity (0 rooms); try again later");
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  const restarts = Number(/^jamsocket_room_host_restarts_total (\d+)$/m.exec(metrics)![1]);
  assert.ok(restarts >= 2 && restarts <= 4, `${restarts} restarts in under a second`);
  await server.server.shutdown();
});
