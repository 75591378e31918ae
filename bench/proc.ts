/**
 * Linux `/proc` readings for the benchmark: a process tree's resident memory and CPU time, and
 * the machine's description. A server under test is measured with its descendants (the room
 * host processes of `--room-hosts`).
 *
 * @module
 */

/** Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined; // the process (or thread) is gone
  }
}

/**
 * The ids of `pid`'s descendants (children, grandchildren, …), from
 * `/proc/<pid>/task/<tid>/children`.
 *
 * @example
 * ```ts
 * import { descendants } from "./proc.ts";
 *
 * const children: number[] = descendants(Deno.pid);
 * ```
 */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const visit = (parent: number) => {
    let tasks: string[];
    try {
      tasks = [...Deno.readDirSync(`/proc/${parent}/task`)].map((entry) => entry.name);
    } catch {
      return;
    }
    for (const tid of tasks) {
      const text = readText(`/proc/${parent}/task/${tid}/children`) ?? "";
      for (const child of text.split(" ")) {
        if (child.trim() === "") continue;
        const id = Number(child);
        found.push(id);
        visit(id);
      }
    }
  };
  visit(pid);
  return found;
}

/**
 * Resident memory (`VmRSS`) of `pid` plus all its descendants, in bytes.
 *
 * @example
 * ```ts
 * import { treeRssBytes } from "./proc.ts";
 *
 * const bytes: number = treeRssBytes(Deno.pid);
 * ```
 */
export function treeRssBytes(pid: number): number {
  let kib = 0;
  for (const id of [pid, ...descendants(pid)]) {
    const match = readText(`/proc/${id}/status`)?.match(/^VmRSS:\s+(\d+) kB$/m);
    if (match) kib += Number(match[1]);
  }
  return kib * 1024;
}

/** CPU time, in milliseconds (10 ms resolution). */
export interface CpuTime {
  /** In user space: the runtime, the JS, the WASM. */
  user: number;
  /** In the kernel: syscalls, and on loopback much of the TCP path of both ends. */
  system: number;
}

/**
 * User and system CPU time of one process (all its threads, live and exited), in milliseconds.
 *
 * @example
 * ```ts
 * import { cpuTime } from "./proc.ts";
 *
 * const { user, system } = cpuTime(Deno.pid);
 * ```
 */
export function cpuTime(pid: number): CpuTime {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return { user: 0, system: 0 };
  // Fields after the command's closing parenthesis; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const tick = 1000 / CLOCK_TICKS;
  return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
}

/**
 * User and system CPU time of `pid` plus its live descendants, in milliseconds.
 *
 * @example
 * ```ts
 * import { treeCpuTime } from "./proc.ts";
 *
 * const { user, system } = treeCpuTime(Deno.pid);
 * ```
 */
export function treeCpuTime(pid: number): CpuTime {
  const total = { user: 0, system: 0 };
  for (const id of [pid, ...descendants(pid)]) {
    const time = cpuTime(id);
    total.user += time.user;
    total.system += time.system;
  }
  return total;
}

/**
 * CPU time of this process plus its reaped children (`utime + stime + cutime + cstime`), in
 * milliseconds: what the benchmark itself used, servers and load generators included.
 *
 * @example
 * ```ts
 * import { ownCpuMs } from "./proc.ts";
 *
 * const ms: number = ownCpuMs();
 * ```
 */
export function ownCpuMs(): number {
  const stat = readText(`/proc/${Deno.pid}/stat`) ?? "";
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0) * 1000 / CLOCK_TICKS;
}

/** What the benchmark ran on. */
export interface MachineInfo {
  /** CPU model from `/proc/cpuinfo`. */
  cpu: string;
  /** Logical cores the OS reports. */
  cores: number;
  /** Total RAM, in GiB. */
  ramGiB: number;
  /** The 1-minute load average when the run started. */
  loadAverage: number;
  /** `deno --version`'s first line, and V8's. */
  deno: string;
  /** `node --version`, or "not found". */
  node: string;
  /** Kernel release. */
  kernel: string;
}

/**
 * Describe this machine: CPU model, cores, RAM, load, Deno and Node versions.
 *
 * @example
 * ```ts ignore
 * import { machineInfo } from "./proc.ts";
 *
 * console.log((await machineInfo()).cpu);
 * ```
 */
export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = readText("/proc/cpuinfo") ?? "";
  const meminfo = readText("/proc/meminfo") ?? "";
  const memKiB = Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  return {
    cpu: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    ramGiB: Math.round(memKiB / 1024 / 1024 * 10) / 10,
    loadAverage: Deno.loadavg()[0],
    deno: `deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
    node: await commandOutput(["node", "--version"]),
    kernel: Deno.osRelease(),
  };
}

/** Whole-machine CPU counters from `/proc/stat`, in milliseconds summed over all cores. */
export interface CpuSnapshot {
  /** All CPU time. */
  total: number;
  /** Idle + iowait time. */
  idle: number;
}

/**
 * Read the whole-machine CPU counters now.
 *
 * @example
 * ```ts
 * import { cpuSnapshot } from "./proc.ts";
 *
 * const { total, idle } = cpuSnapshot();
 * ```
 */
export function cpuSnapshot(): CpuSnapshot {
  const line = (readText("/proc/stat") ?? "cpu 0").split("\n")[0];
  const values = line.trim().split(/\s+/).slice(1).map((v) => Number(v) * 1000 / CLOCK_TICKS);
  const total = values.reduce((sum, value) => sum + value, 0);
  return { total, idle: (values[3] ?? 0) + (values[4] ?? 0) };
}

async function commandOutput(command: string[]): Promise<string> {
  try {
    const { stdout } = await new Deno.Command(command[0], {
      args: command.slice(1),
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(stdout).trim();
  } catch {
    return "not found";
  }
}
