/**
 * The benchmark's scenarios: what each one runs (its spec, in a short and a long size) and the
 * figures it reports. Shared by the runner (`run.ts`) and the load generator (`load.ts`).
 *
 * @module
 */

/** Echo: clients in rooms, each looping send → await its reply. */
export interface EchoSpec {
  /** The scenario. */
  readonly kind: "echo";
  /** Clients, spread round-robin over the rooms. */
  readonly clients: number;
  /** Rooms (one client per room when equal to `clients`). */
  readonly rooms: number;
  /** Load before the measured window, in ms. */
  readonly warmupMs: number;
  /** The measured window, in ms. */
  readonly durationMs: number;
}

/** Fanout: one room of many clients, one sender, a burst broadcast to all. */
export interface FanoutSpec {
  /** The scenario. */
  readonly kind: "fanout";
  /** Clients in the room, the sender included. */
  readonly clients: number;
  /** Messages in the measured burst. */
  readonly messages: number;
  /** Messages in the warm-up burst before it. */
  readonly warmupMessages: number;
}

/** Connect: many idle connections across rooms. */
export interface ConnectSpec {
  /** The scenario. */
  readonly kind: "connect";
  /** Connections opened. */
  readonly connections: number;
  /** Rooms they are spread over. */
  readonly rooms: number;
  /** Wait after the last handshake before reading the server's memory, in ms. */
  readonly settleMs: number;
}

/** Rooms: one client per room, each room made live by one message. */
export interface RoomsSpec {
  /** The scenario. */
  readonly kind: "rooms";
  /** Rooms (and clients). */
  readonly rooms: number;
  /** Wait after the last reply before reading the server's memory, in ms. */
  readonly settleMs: number;
}

/** Churn: connect, send, await the reply, disconnect, repeated by parallel workers. */
export interface ChurnSpec {
  /** The scenario. */
  readonly kind: "churn";
  /** Parallel workers. */
  readonly workers: number;
  /** Churn before the memory baseline is read, in ms. */
  readonly warmupMs: number;
  /** The measured window, in ms. */
  readonly durationMs: number;
}

/** Hog: echo latency in a healthy room while another room's guest spins. */
export interface HogSpec {
  /** The scenario. */
  readonly kind: "hog";
  /** Echo before the spin starts (the baseline), in ms. */
  readonly baselineMs: number;
  /** The server's `--cpu-limit`, in seconds (bounds how long to wait for the hog's close). */
  readonly cpuLimitS: number;
}

/** Any scenario's spec. */
export type ScenarioSpec =
  | EchoSpec
  | FanoutSpec
  | ConnectSpec
  | RoomsSpec
  | ChurnSpec
  | HogSpec;

/** The scenario names `--scenarios` accepts. */
export const SCENARIO_NAMES = [
  "echo",
  "echo1",
  "fanout",
  "connect",
  "rooms",
  "churn",
  "hog",
] as const;

/** One of {@linkcode SCENARIO_NAMES}. */
export type ScenarioName = typeof SCENARIO_NAMES[number];

/** How a figure compares: bigger is better, smaller is better, or information only. */
export type Better = "higher" | "lower" | "info";

/** One figure a scenario reports. */
export interface MetricDef {
  /** The key in the load generator's result. */
  readonly key: string;
  /** The row label in the table. */
  readonly label: string;
  /** Which direction is better (a ratio to the baseline is shown for `higher`/`lower`). */
  readonly better: Better;
  /** Decimals to print. */
  readonly digits: number;
  /** Print without thousands separators (codes). */
  readonly plain?: boolean;
}

/** A scenario: its specs and the figures it reports. */
export interface ScenarioDef {
  /** The spec of the default (short) run. */
  readonly short: ScenarioSpec;
  /** The spec of `--long`. */
  readonly long: ScenarioSpec;
  /** Interleaved repetitions: short, long. */
  readonly reps: readonly [number, number];
  /** Only these servers run it (all when absent). */
  readonly only?: readonly string[];
  /** A one-line description for the table, from the spec. */
  describe(spec: ScenarioSpec): string;
  /** The figures, in table order. */
  readonly metrics: readonly MetricDef[];
}

const ECHO_METRICS: readonly MetricDef[] = [
  { key: "msgsPerS", label: "messages/s", better: "higher", digits: 0 },
  { key: "p50Ms", label: "p50 latency (ms)", better: "lower", digits: 3 },
  { key: "p99Ms", label: "p99 latency (ms)", better: "lower", digits: 3 },
  { key: "p999Ms", label: "p99.9 latency (ms)", better: "lower", digits: 3 },
  { key: "serverUsPerMsg", label: "server CPU µs/message", better: "lower", digits: 1 },
  { key: "serverUserUsPerMsg", label: "… of which user space", better: "lower", digits: 1 },
  { key: "serverCpuPct", label: "server CPU %", better: "info", digits: 0 },
  { key: "loadCpuPct", label: "load generator CPU %", better: "info", digits: 0 },
];

function echoDescription(spec: ScenarioSpec): string {
  const s = spec as EchoSpec;
  return `${s.clients} client${s.clients === 1 ? "" : "s"} in ${s.rooms} room${
    s.rooms === 1 ? "" : "s"
  }, send → await reply, ${s.durationMs / 1000} s`;
}

/** Every scenario, by name. */
export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioDef>> = {
  echo: {
    short: { kind: "echo", clients: 50, rooms: 50, warmupMs: 500, durationMs: 2000 },
    long: { kind: "echo", clients: 100, rooms: 100, warmupMs: 2000, durationMs: 10_000 },
    reps: [3, 5],
    describe: echoDescription,
    metrics: ECHO_METRICS,
  },
  echo1: {
    short: { kind: "echo", clients: 1, rooms: 1, warmupMs: 300, durationMs: 1500 },
    long: { kind: "echo", clients: 1, rooms: 1, warmupMs: 1000, durationMs: 5000 },
    reps: [2, 3],
    describe: echoDescription,
    metrics: ECHO_METRICS,
  },
  fanout: {
    short: { kind: "fanout", clients: 100, messages: 2000, warmupMessages: 300 },
    long: { kind: "fanout", clients: 200, messages: 5000, warmupMessages: 1000 },
    reps: [3, 5],
    describe: (spec) => {
      const s = spec as FanoutSpec;
      return `1 room of ${s.clients} clients, 1 sender, ${s.messages} messages to all`;
    },
    metrics: [
      { key: "deliveriesPerS", label: "deliveries/s", better: "higher", digits: 0 },
      {
        key: "lastMs",
        label: "ms until the last client has the last value",
        better: "lower",
        digits: 1,
      },
      { key: "serverUsPerDelivery", label: "server CPU µs/delivery", better: "lower", digits: 2 },
      {
        key: "serverUserUsPerDelivery",
        label: "… of which user space",
        better: "lower",
        digits: 2,
      },
      { key: "serverCpuPct", label: "server CPU %", better: "info", digits: 0 },
      { key: "loadCpuPct", label: "load generator CPU %", better: "info", digits: 0 },
    ],
  },
  connect: {
    short: { kind: "connect", connections: 2000, rooms: 100, settleMs: 500 },
    long: { kind: "connect", connections: 10_000, rooms: 1000, settleMs: 1000 },
    reps: [2, 3],
    describe: (spec) => {
      const s = spec as ConnectSpec;
      return `${s.connections} idle connections across ${s.rooms} rooms`;
    },
    metrics: [
      { key: "connsPerS", label: "connections/s", better: "higher", digits: 0 },
      { key: "kibPerConn", label: "server KiB/connection", better: "lower", digits: 1 },
      { key: "rssAfterMiB", label: "server RSS with all open (MiB)", better: "info", digits: 0 },
    ],
  },
  rooms: {
    short: { kind: "rooms", rooms: 10_000, settleMs: 500 },
    long: { kind: "rooms", rooms: 10_000, settleMs: 1000 },
    reps: [1, 3],
    describe: (spec) => {
      const s = spec as RoomsSpec;
      return `${s.rooms} rooms, 1 client each, 1 message each (WASM in-process: its 3000 cap)`;
    },
    metrics: [
      { key: "roomsPerS", label: "rooms/s", better: "higher", digits: 0 },
      { key: "kibPerRoom", label: "server KiB/room", better: "lower", digits: 1 },
      { key: "rooms", label: "rooms open", better: "info", digits: 0 },
      { key: "rssAfterMiB", label: "server RSS with all open (MiB)", better: "info", digits: 0 },
    ],
  },
  churn: {
    short: { kind: "churn", workers: 16, warmupMs: 500, durationMs: 1500 },
    long: { kind: "churn", workers: 32, warmupMs: 2000, durationMs: 10_000 },
    reps: [2, 3],
    describe: (spec) => {
      const s = spec as ChurnSpec;
      return `${s.workers} workers: connect to a new room, send, await reply, close; 2 × ${
        s.durationMs / 1000
      } s`;
    },
    metrics: [
      { key: "opsPerS", label: "ops/s", better: "higher", digits: 0 },
      {
        key: "rssBeforeMiB",
        label: "server RSS after the warm-up (MiB)",
        better: "info",
        digits: 1,
      },
      { key: "rssMidMiB", label: "server RSS after phase 1 (MiB)", better: "info", digits: 1 },
      { key: "rssAfterMiB", label: "server RSS after phase 2 (MiB)", better: "info", digits: 1 },
      {
        key: "secondPhaseKiBPer1kOps",
        label: "phase 2 RSS growth (KiB per 1000 ops)",
        better: "info",
        digits: 0,
      },
      { key: "roomsAfter", label: "rooms left (/metrics)", better: "info", digits: 0 },
    ],
  },
  hog: {
    short: { kind: "hog", baselineMs: 500, cpuLimitS: 1 },
    long: { kind: "hog", baselineMs: 2000, cpuLimitS: 1 },
    reps: [1, 3],
    only: ["jamsocket-wasm", "jamsocket-hosts"],
    describe: () =>
      "a spinning WASM room, --cpu-limit 1 (in-process, metered; or --room-hosts 2); closed-loop echo in a healthy room",
    metrics: [
      {
        key: "baseP50Ms",
        label: "healthy echo p50 before the spin (ms)",
        better: "info",
        digits: 3,
      },
      {
        key: "spinP50Ms",
        label: "healthy echo p50 during the spin (ms)",
        better: "info",
        digits: 3,
      },
      {
        key: "spinP99Ms",
        label: "healthy echo p99 during the spin (ms)",
        better: "info",
        digits: 3,
      },
      {
        key: "spinMaxMs",
        label: "healthy echo max during the spin (ms)",
        better: "info",
        digits: 1,
      },
      { key: "spinMsgs", label: "healthy echoes during the spin", better: "info", digits: 0 },
      { key: "hogCloseCode", label: "hog room close code", better: "info", digits: 0, plain: true },
      { key: "hogCloseMs", label: "hog room closed after (ms)", better: "info", digits: 0 },
    ],
  },
};
