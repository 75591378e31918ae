/**
 * `Deno.upgradeWebSocket` and large messages: fragments without FIN are buffered without limit
 * (and the whole message is delivered once FIN comes), while a single frame of 64 MiB or more is
 * refused. The server runs in a child process whose RSS is watched; the client stops at
 * `--total` MiB (default and at most 256) or when the server's RSS has grown by more than twice
 * that.
 *
 * ```sh
 * deno run -A scripts/facts/ws_fragments.ts [--total 256]
 * ```
 *
 * @module
 */

import {
  type DenoChild,
  mib,
  Opcode,
  procBytes,
  RawClient,
  serveWebSocket,
  spawnSelf,
  within,
} from "./_facts.ts";

const MiB = 1024 * 1024;

if (Deno.args[0] === "--serve") {
  let connections = 0;
  const server = serveWebSocket((socket) => {
    const id = ++connections;
    socket.onmessage = (event) => console.log(`${id} message ${event.data.length}`);
    socket.onerror = (event) => console.log(`${id} error ${(event as ErrorEvent).message}`);
    socket.onclose = (event) => console.log(`${id} close ${event.code}`);
  });
  console.log(`port ${server.port}`);
} else {
  const totalIndex = Deno.args.indexOf("--total");
  const totalMiB = Math.min(totalIndex < 0 ? 256 : Number(Deno.args[totalIndex + 1]), 256);
  const server = spawnSelf(import.meta.url, ["--serve"]);
  try {
    const port = Number((await server.line())?.split(" ")[1]);
    const before = procBytes(server.pid, "VmRSS");

    const client = await RawClient.open(port);
    const chunk = new Uint8Array(MiB).fill(0x61); // "a", valid UTF-8
    let sent = 0;
    let growth = 0;
    while (sent < totalMiB && growth < 2 * totalMiB * MiB) {
      await client.send(sent === 0 ? Opcode.Text : Opcode.Continuation, chunk, false);
      sent++;
      if (sent % 16 === 0) growth = procBytes(server.pid, "VmRSS") - before;
    }
    await client.send(Opcode.Ping, new Uint8Array(0)); // answered once the server read it all
    const pong = await within(10_000, "a pong", client.next());
    growth = procBytes(server.pid, "VmRSS") - before;
    console.log(
      `fragments without FIN: sent ${sent} MiB, server RSS +${mib(growth)}, ` +
        `${pong?.opcode === Opcode.Pong ? "still open (pong)" : "closed"}`,
    );
    await client.send(Opcode.Continuation, chunk.subarray(0, 1)); // FIN
    await client.close();
    console.log(
      `then 1 B with FIN: server: ${(await untilClosed(server, 1)).join(", ")}; ` +
        `server peak RSS ${mib(procBytes(server.pid, "VmHWM"))}`,
    );

    for (const [id, length] of [[2, 64 * MiB - 1], [3, 64 * MiB]]) {
      const single = await RawClient.open(port);
      await single.sendHeader(Opcode.Text, length);
      for (let left = length; left > 0; left -= MiB) {
        const ok = await single.write(chunk.subarray(0, Math.min(left, MiB))).then(() => true)
          .catch(() => false); // the server may have dropped the connection
        if (!ok) break;
      }
      await single.close();
      console.log(
        `one frame of ${length === 64 * MiB ? "64 MiB" : "64 MiB - 1 B"} (${length} B): ` +
          `server: ${(await untilClosed(server, id)).join(", ")}`,
      );
    }
  } finally {
    await server.kill();
  }
}

/** The server's lines about connection `id`, up to its close event. */
async function untilClosed(server: DenoChild, id: number): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < 10; i++) {
    const line = await server.line(5000);
    if (line === undefined) break;
    if (!line.startsWith(`${id} `)) continue;
    lines.push(line.slice(`${id} `.length));
    if (line.startsWith(`${id} close`)) break;
  }
  return lines;
}
