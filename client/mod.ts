/**
 * `@jamsocket/jamsocket/client`: a WebSocket client for Jamsocket rooms that reconnects by itself
 * (exponential backoff with full jitter) after a server restart, a hot reload, a room crash or a
 * lost network, and queues what you send meanwhile. For browsers and Deno; no dependencies.
 *
 * Reconnects on 1001, 1006, 1011, 1012, 1013, 1014 and failed connections; ends for good on any
 * other code (1000, 1008, 1009, 4xxx, …), after `maxAttempts` failures in a row, or on `close()`.
 * Message data is a `string` (text frames) or a `Uint8Array` (binary frames).
 *
 * Browsers load it as an ES module: {@linkcode CLIENT_SCRIPT} is its text and
 * {@linkcode clientScriptResponse} answers it, at {@linkcode CLIENT_SCRIPT_PATH}
 * (`/_jamsocket/client.js`, where `jamsocket dev` serves it), so a page does
 * `import { JamsocketClient } from "/_jamsocket/client.js"`.
 *
 * @example A chat room that survives restarts
 * ```ts
 * import { serve } from "../server.ts";
 * import { EchoServer } from "../examples/echo.ts";
 * import { JamsocketClient } from "./mod.ts";
 *
 * const server = serve(EchoServer, { hostname: "127.0.0.1", port: 0, onListen() {} });
 * const client = JamsocketClient.room(`http://127.0.0.1:${server.addr.port}`, "lobby");
 * client.onopen = (event) => console.log(event.reconnected ? "back" : "connected");
 * client.onmessage = (event) => console.log(event.data); // User 1 connected.
 * client.onreconnecting = (event) => console.log(`retry #${event.attempt} in ${event.delayMs} ms`);
 * client.onclose = (event) => console.log(`closed ${event.code}`, event.willReconnect);
 * client.send("hello"); // queued until the connection opens
 *
 * await new Promise((resolve) => client.addEventListener("open", resolve, { once: true }));
 * client.close();
 * await new Promise((resolve) => client.addEventListener("close", resolve, { once: true }));
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./browser.ts";
export { CLIENT_SCRIPT, CLIENT_SCRIPT_PATH, clientScriptResponse } from "./client_script.ts";
