/**
 * WebSocket connections that do not end with a close handshake. A server that closes a client
 * which keeps sending (as for breaking a rate limit): the close frame never reaches the client,
 * which sees the connection end instead of the code. And a server process with such a connection
 * in its past does not exit when its work is done: it lingers about 15 s. The server is a child
 * that closes a client with 1008 on its 10th message, and shuts down (abort, `await
 * server.finished`) once its one client is gone; this script waits 30 s at most for it to exit.
 *
 * ```sh
 * deno run -A scripts/facts/ws_unclean_close.ts
 * ```
 *
 * @module
 */

import { describeFrame, Opcode, RawClient, serveWebSocket, spawnSelf, within } from "./_facts.ts";

const text = new TextEncoder().encode("x");

/** What the client sees after sending `count` messages 1 ms apart (reading as it goes). */
async function sendAndWatch(client: RawClient, count: number): Promise<string> {
  const first = client.next();
  for (let i = 0; i < count; i++) {
    await client.send(Opcode.Text, text).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const frame = await within(2000, "a frame", first);
  return frame === undefined ? "the connection end, no close frame" : describeFrame(frame);
}

/** Each way a client ends; returns what it saw. */
const CASES: Record<string, (client: RawClient) => Promise<string>> = {
  "sends 10 messages, then answers the server's close": async (client) => {
    const seen = await sendAndWatch(client, 10);
    await client.send(Opcode.Close, new Uint8Array([3, 0xf0])); // 1008 back
    return seen;
  },
  "sends 100 messages, going on after the server's close": async (client) => {
    const seen = await sendAndWatch(client, 100);
    client.drop();
    return seen;
  },
  "sends nothing, drops the connection": (client) => {
    client.drop();
    return Promise.resolve("nothing");
  },
};

if (Deno.args[0] === "--serve") {
  const server = serveWebSocket((socket) => {
    let messages = 0;
    socket.onmessage = () => ++messages === 10 && socket.close(1008, "Too fast");
    socket.onclose = () => server.close().then(() => console.log("finished"));
  });
  console.log(`port ${server.port}`);
} else {
  for (const [name, run] of Object.entries(CASES)) {
    const child = spawnSelf(import.meta.url, ["--serve"]);
    try {
      const port = Number((await child.line())?.split(" ")[1]);
      const seen = await run(await RawClient.open(port));
      await child.line();
      const start = performance.now();
      const exited = await within(30_000, "exit", child.status).then(() => true, () => false);
      const seconds = ((performance.now() - start) / 1000).toFixed(2);
      console.log(
        `a client that ${name}: sees ${seen}; the server process exits ` +
          (exited ? `${seconds} s after server.finished` : "not within 30 s (killed)"),
      );
    } finally {
      await child.kill();
    }
  }
}
