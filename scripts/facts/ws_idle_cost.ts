/**
 * What an idle WebSocket costs a `Deno.serve` + `Deno.upgradeWebSocket` server: its RSS growth
 * per open connection, with heartbeats off (`idleTimeout: 0`) and at the default (30 s). The
 * server is a child process; the clients are raw connections from this one.
 *
 * ```sh
 * deno run -A scripts/facts/ws_idle_cost.ts [--connections 2000]
 * ```
 *
 * @module
 */

import { kib, procBytes, RawClient, serveWebSocket, spawnSelf } from "./_facts.ts";

if (Deno.args[0] === "--serve") {
  const [idleTimeout, expected] = [Number(Deno.args[1]), Number(Deno.args[2])];
  let open = 0;
  const options = Number.isNaN(idleTimeout) ? {} : { idleTimeout };
  const server = serveWebSocket((socket) => {
    socket.onopen = () => ++open === expected && console.log("all open");
  }, options);
  console.log(`port ${server.port}`);
} else {
  const countIndex = Deno.args.indexOf("--connections");
  const count = countIndex < 0 ? 2000 : Number(Deno.args[countIndex + 1]);
  for (const idleTimeout of ["0", "default"]) {
    const server = spawnSelf(import.meta.url, ["--serve", idleTimeout, String(count)]);
    const clients: RawClient[] = [];
    try {
      const port = Number((await server.line())?.split(" ")[1]);
      // One connection first, so that the server's lazily built pieces do not count.
      clients.push(await RawClient.open(port));
      const before = procBytes(server.pid, "VmRSS");
      while (clients.length < count) clients.push(await RawClient.open(port));
      const said = await server.line();
      const perConnection = (procBytes(server.pid, "VmRSS") - before) / (count - 1);
      const upgraded = clients.filter((client) => client.status === 101).length;
      console.log(
        `idleTimeout ${idleTimeout}: ${upgraded} of ${count} upgraded (server: ${said}), ` +
          `server RSS +${kib(perConnection)} per idle connection`,
      );
    } finally {
      for (const client of clients) client.drop();
      await server.kill();
    }
  }
}
