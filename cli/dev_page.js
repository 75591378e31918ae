// The dev page's script (a browser ES module, embedded by dev_page.ts): clients side by side on
// the reconnecting client, the live room list and build status from the dev server's events.
// Every text from the server or the service is shown with textContent, never as HTML.

import { JamsocketClient } from "/_jamsocket/client.js";

const EVENTS_PATH = "/_jamsocket/events";
/** Reconnect after a restart (1001, 1006, 1012…), not after a crash: that waits for a good build. */
const RECONNECT_CODES = [1001, 1006, 1012, 1013, 1014];
const MAX_PANELS = 12;
const MAX_ENTRIES = 500;
const MAX_SHOWN_BYTES = 256;
const LABELS = {
  sent: "sent",
  "sent-binary": "sent bytes",
  received: "received",
  binary: "binary",
  open: "open",
  closed: "closed",
  restart: "restart",
  crash: "crashed",
  error: "error",
  info: "info",
};

const $ = (id) => document.getElementById(id);
const panels = new Map();
let nextPanel = 1;
let latestRooms = [];

// ---- build status and the error banner -------------------------------------------------------

const buildStatus = $("build-status");
const serverStatus = $("server-status");
const banner = $("build-banner");
let session = "";

function showBuild(event) {
  buildStatus.dataset.state = event.type;
  if (event.type === "building") {
    buildStatus.textContent = `building #${event.generation}…`;
    return;
  }
  if (event.type === "built") {
    buildStatus.textContent = `build #${event.generation} ok`;
    buildStatus.title = event.summary;
    banner.hidden = true;
    for (const panel of panels.values()) panel.buildArrived();
    return;
  }
  buildStatus.textContent = `build #${event.generation} failed`;
  buildStatus.title = event.headline;
  $("build-headline").textContent = event.headline;
  $("build-note").textContent = event.serving
    ? "The last good build keeps serving; fix the error and save to rebuild."
    : "No good build yet: rooms crash (1011) until one. Fix the error and save.";
  $("build-output").textContent = event.output || "(the compiler printed nothing more)";
  banner.hidden = false;
}

function listen() {
  const events = new EventSource(EVENTS_PATH);
  events.addEventListener("open", () => {
    serverStatus.dataset.state = "live";
    serverStatus.textContent = "server live";
  });
  events.addEventListener("error", () => {
    serverStatus.dataset.state = "down";
    serverStatus.textContent = "server unreachable; retrying…";
    latestRooms = [];
    renderRooms();
  });
  events.addEventListener("hello", (event) => {
    const next = JSON.parse(event.data).session;
    if (session && next !== session) {
      for (const panel of panels.values()) panel.entry("info", "The dev server restarted");
    }
    session = next;
  });
  events.addEventListener("build", (event) => showBuild(JSON.parse(event.data)));
  events.addEventListener("rooms", (event) => {
    latestRooms = JSON.parse(event.data).rooms;
    renderRooms();
  });
}

// ---- the room list -------------------------------------------------------------------------

function renderRooms() {
  const list = $("rooms");
  const items = latestRooms.map((room) => {
    const item = document.createElement("li");
    item.dataset.room = room.id;
    const name = document.createElement("button");
    name.type = "button";
    name.className = "room-name";
    name.textContent = room.id;
    name.title = `Add a client to room "${room.id}"`;
    name.addEventListener("click", () => addPanel(room.id));
    const count = document.createElement("span");
    count.className = "room-clients";
    count.textContent = room.clients === 1 ? "1 client" : `${room.clients} clients`;
    const mine = document.createElement("span");
    mine.className = "room-mine";
    for (const panel of panels.values()) {
      if (panel.room !== room.id || panel.state !== "open") continue;
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.textContent = panel.label;
      chip.title = "This page's client: show it";
      chip.addEventListener("click", () => panel.focus());
      mine.append(chip);
    }
    item.append(name, count, mine);
    return item;
  });
  list.replaceChildren(...items);
  const empty = $("rooms-empty");
  empty.hidden = items.length > 0;
  empty.textContent = serverStatus.dataset.state === "down"
    ? "The server is unreachable."
    : "No rooms yet: add a client.";
}

// ---- one client panel --------------------------------------------------------------------------

function pad(value, width) {
  return String(value).padStart(width, "0");
}

function clock(date) {
  return `${pad(date.getHours(), 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}.${
    pad(date.getMilliseconds(), 3)
  }`;
}

function describeBytes(bytes) {
  const shown = Array.from(bytes.subarray(0, MAX_SHOWN_BYTES)).join(", ");
  if (bytes.length <= MAX_SHOWN_BYTES) return `[${shown}]`;
  return `[${shown}, …] (${bytes.length} bytes)`;
}

/** "1 2 255", "1, 2, 255", "[1, 2, 255]": decimal; "01 02 ff", "0x10", "0102ff": hex. */
function parseBytes(input) {
  const tokens = input.replace(/[\[\],]/g, " ").trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new Error("enter bytes such as 1 2 255 or 01 02 ff");
  const hex = tokens.some((token) => /^0x/i.test(token) || /[a-f]/i.test(token));
  const values = [];
  for (const token of tokens) {
    if (hex) {
      const digits = token.replace(/^0x/i, "");
      if (!/^[0-9a-f]+$/i.test(digits)) throw new Error(`"${token}" is not hex`);
      if (digits.length <= 2) values.push(parseInt(digits, 16));
      else if (digits.length % 2 === 0) {
        for (let i = 0; i < digits.length; i += 2) {
          values.push(parseInt(digits.slice(i, i + 2), 16));
        }
      } else throw new Error(`"${token}" is not a whole number of hex bytes`);
    } else {
      if (!/^\d+$/.test(token)) throw new Error(`"${token}" is not a number`);
      const value = Number(token);
      if (value > 255) throw new Error(`"${token}" is larger than 255`);
      values.push(value);
    }
  }
  return new Uint8Array(values);
}

/** JSON objects and arrays, pretty-printed; anything else undefined. */
function prettyJson(text) {
  if (!/^\s*[[{]/.test(text)) return undefined;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
}

/** The client id a service's first words give away: "User 3 connected.", "client #3", … */
function idFrom(text) {
  return /\b(?:user|client)\s*#?(\d+)\b/i.exec(text)?.[1];
}

class Panel {
  constructor(room) {
    this.index = nextPanel++;
    this.room = room;
    this.state = "closed";
    this.clientId = undefined;
    this.client = undefined;
    this.awaitingFirst = false;
    /** Connection attempts that failed in a row: said once, not every time. */
    this.failedAttempts = 0;
    this.element = $("panel-template").content.firstElementChild.cloneNode(true);
    this.element.dataset.panel = String(this.index);
    const part = (name) => this.element.querySelector(`[data-part="${name}"]`);
    this.parts = {
      title: part("title"),
      id: part("id"),
      status: part("status"),
      room: part("room"),
      connect: part("connect"),
      url: part("url"),
      log: part("log"),
      text: part("text"),
      send: part("send"),
      bytes: part("bytes"),
      sendBytes: part("send-bytes"),
    };
    this.parts.title.textContent = `Client ${
      String.fromCharCode(64 + ((this.index - 1) % 26) + 1)
    }`;
    this.parts.room.value = room;
    part("connect-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.state === "closed" || this.state === "crashed") {
        this.room = this.parts.room.value;
        if (this.room === "") return this.entry("error", "enter a room id");
        this.connect();
      } else this.disconnect();
    });
    part("text-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendText(this.parts.text.value);
    });
    part("bytes-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendBytes(this.parts.bytes.value);
    });
    part("clear").addEventListener("click", () => this.parts.log.replaceChildren());
    part("remove").addEventListener("click", () => this.remove());
    $("panels").append(this.element);
    panels.set(this.index, this);
    this.connect();
  }

  get label() {
    return this.clientId === undefined
      ? this.parts.title.textContent
      : `${this.parts.title.textContent} · id ${this.clientId}`;
  }

  connect() {
    this.client?.close();
    const client = JamsocketClient.room(location.origin, this.room, {
      reconnectCodes: RECONNECT_CODES,
      maxDelayMs: 2000,
    });
    this.client = client;
    this.parts.url.textContent = client.url;
    this.setState("connecting", "connecting…");
    client.addEventListener("open", (event) => {
      if (this.client !== client) return;
      this.setClientId(undefined);
      this.awaitingFirst = true;
      this.failedAttempts = 0;
      this.setState("open", "open");
      this.entry("open", `${event.reconnected ? "reconnected" : "connected"} to ${client.url}`);
    });
    client.addEventListener("message", (event) => {
      if (this.client !== client) return;
      if (typeof event.data === "string") this.received(event.data);
      else this.entry("binary", describeBytes(event.data));
    });
    client.addEventListener("close", (event) => {
      if (this.client !== client) return;
      const reason = event.reason ? `: ${event.reason}` : "";
      if (event.code === 1011) {
        this.entry("crash", `The room crashed (1011${reason})`);
        this.entry("info", "Reconnecting after the next good build, or when you click Connect");
        this.setState("crashed", "crashed");
      } else if (event.code === 1012) {
        this.entry("restart", `The service was reloaded (1012${reason}); reconnecting…`);
      } else if (event.willReconnect && this.state !== "open") {
        if (this.failedAttempts++ === 0) {
          this.entry("info", `Cannot connect (${event.code}); retrying until the server answers`);
        }
      } else if (event.willReconnect) {
        this.entry("closed", `code ${event.code}${reason}`);
      } else {
        this.entry("closed", `code ${event.code}${reason}`);
        this.setState("closed", "closed");
      }
      this.setClientId(undefined);
      renderRooms();
    });
    client.addEventListener("reconnecting", (event) => {
      if (this.client !== client) return;
      this.setState("connecting", `reconnecting in ${Math.round(event.delayMs)} ms…`);
    });
  }

  /** A good build arrived: a crashed client tries again. */
  buildArrived() {
    if (this.state === "crashed") {
      this.entry("info", "A good build arrived; reconnecting");
      this.connect();
    }
  }

  disconnect() {
    const client = this.client;
    this.client = undefined;
    client?.close(1000, "Disconnected by the user");
    this.entry("closed", "code 1000: Disconnected by the user");
    this.setClientId(undefined);
    this.setState("closed", "closed");
  }

  remove() {
    this.client?.close(1000, "Disconnected by the user");
    this.client = undefined;
    panels.delete(this.index);
    this.element.remove();
    renderRooms();
    updateAddButton();
  }

  focus() {
    this.element.scrollIntoView({ block: "nearest" });
    this.parts.text.focus();
  }

  received(text) {
    if (this.awaitingFirst) {
      this.awaitingFirst = false;
      const id = idFrom(text);
      if (id !== undefined) this.setClientId(id);
    }
    const json = prettyJson(text);
    this.entry("received", json ?? text, json !== undefined);
  }

  sendText(text) {
    if (this.state !== "open") return;
    this.client.send(text);
    const json = prettyJson(text);
    this.entry("sent", json ?? text, json !== undefined);
    this.parts.text.select();
  }

  sendBytes(input) {
    if (this.state !== "open") return;
    let bytes;
    try {
      bytes = parseBytes(input);
    } catch (error) {
      this.parts.bytes.setAttribute("aria-invalid", "true");
      return this.entry("error", `Cannot send bytes: ${error.message}`);
    }
    this.parts.bytes.removeAttribute("aria-invalid");
    this.client.send(bytes);
    this.entry("sent-binary", describeBytes(bytes));
    this.parts.bytes.select();
  }

  setClientId(id) {
    this.clientId = id;
    this.parts.id.textContent = id === undefined ? "" : `client id ${id}`;
    this.parts.id.title = id === undefined ? "" : "as the service said it";
    renderRooms();
  }

  setState(state, text) {
    this.state = state;
    this.element.dataset.state = state;
    this.parts.status.dataset.state = state;
    this.parts.status.textContent = text;
    const idle = state === "closed" || state === "crashed";
    this.parts.connect.textContent = idle ? "Connect" : "Disconnect";
    this.parts.room.disabled = !idle;
    this.parts.send.disabled = state !== "open";
    this.parts.sendBytes.disabled = state !== "open";
  }

  entry(kind, text, json = false) {
    const log = this.parts.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const now = new Date();
    const item = document.createElement("li");
    item.dataset.kind = kind;
    if (json) item.dataset.format = "json";
    const time = document.createElement("time");
    time.dateTime = now.toISOString();
    time.textContent = clock(now);
    const label = document.createElement("span");
    label.className = "kind";
    label.textContent = LABELS[kind];
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(time, label, body);
    log.append(item);
    while (log.childElementCount > MAX_ENTRIES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}

// ---- adding clients ----------------------------------------------------------------------------

function addPanel(room) {
  if (panels.size >= MAX_PANELS) return;
  new Panel(room);
  updateAddButton();
}

function updateAddButton() {
  $("add-client").disabled = panels.size >= MAX_PANELS;
}

const newRoom = $("new-room");
newRoom.value = new URLSearchParams(location.search).get("room") || "lobby";
$("add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (newRoom.value === "") return;
  const url = new URL(location.href);
  url.searchParams.set("room", newRoom.value);
  history.replaceState(null, "", url);
  addPanel(newRoom.value);
});

listen();
