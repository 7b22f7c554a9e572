// The gateway in a process of its own (bench/gateway-child.mjs), started as
// `npm start` starts it, with the simulator in this process: the gateway's
// RSS and CPU are then its own, not the client's sockets or the simulator's
// buffers. Used by the memory, lag and throughput scenarios.
// The child runs the compiled dist/ (npm run bench builds it), as `npm start`
// does: a TypeScript loader would add ~30 MB of its own to the RSS measured.
//
// Diagnosis knobs: BENCH_GATEWAY_NODE_FLAGS="--max-old-space-size=256" passes
// node flags to the gateway; BENCH_EXPOSE_GC=1 lets memory(true) run a full GC first.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { type Simulator, type SimulatorOptions, startSimulator } from "../src/simulator/server.js";

export const upstreamKey = "bench-upstream-key";
export const adminToken = "bench-admin-token-0123456789";

/** The gateway's configuration in every benchmark, in process or in a child. */
export function gatewayEnv(upstreamUrl: string, dataDir: string, port = 0): Record<string, string> {
  return {
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    IMAGEGATE_UPSTREAM_URL: upstreamUrl,
    IMAGEGATE_UPSTREAM_KEY: upstreamKey,
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_ADMIN_TOKEN: adminToken,
    IMAGEGATE_MASTER_KEY: Buffer.alloc(32, 1).toString("base64"),
  };
}
const childEntry = fileURLToPath(new URL("./gateway-child.mjs", import.meta.url));
const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const compiledMain = fileURLToPath(new URL("../dist/main.js", import.meta.url));

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or undefined once the process is gone. */
export async function procStatusBytes(
  pid: number,
  field: "VmRSS" | "VmHWM",
): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, in ms; NaN if unreadable. */
export async function procCpuMs(pid: number | "self"): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that closes the command name; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** The soft open-files limit of a process, from /proc/<pid>/limits. */
export async function openFilesLimit(pid: number | "self"): Promise<string> {
  try {
    const limits = await readFile(`/proc/${pid}/limits`, "utf8");
    return /^Max open files\s+(\S+)/m.exec(limits)?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/** Samples VmRSS every 250 ms; `windowPeak` is the highest since the last `mark()`. */
export function rssSampler(pid: number) {
  let peak = 0;
  let windowPeak = 0;
  let last = 0;
  let samples = 0;
  const sample = async () => {
    const rss = await procStatusBytes(pid, "VmRSS");
    if (rss === undefined) return;
    samples++;
    last = rss;
    peak = Math.max(peak, rss);
    windowPeak = Math.max(windowPeak, rss);
  };
  const timer = setInterval(() => void sample(), 250);
  return {
    sample,
    get last() {
      return last;
    },
    get peak() {
      return peak;
    },
    get windowPeak() {
      return windowPeak;
    },
    get samples() {
      return samples;
    },
    mark() {
      windowPeak = last;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

export interface ChildGateway {
  url: string;
  pid: number;
  /** The process, for a scenario that kills it (SIGKILL: no shutdown code runs). */
  process: ChildProcess;
  apiKey: string;
  sim: Simulator;
  /** The child's process.memoryUsage(), after a full GC when `gc` (BENCH_EXPOSE_GC=1). */
  memory(gc?: boolean): Promise<NodeJS.MemoryUsage>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The simulator here, the gateway in a child process, one tenant without
 * limits (the admin API's rpm, max_concurrent and images_per_day are unlimited
 * when not given). The child is started through sh to raise its soft
 * open-files limit to the hard one (10,000 held sockets need more than the
 * usual 1,024), then exec'd, so the pid sampled is node's own.
 */
export async function startChildGateway(
  simOptions: SimulatorOptions,
  options: {
    /** A simulator shared with other gateways (not closed with this one). */
    sim?: Simulator;
    /** Over gatewayEnv(): shared engines for replicas. */
    env?: Record<string, string>;
    /** The tenant's key, when it exists already (replicas on one database). */
    apiKey?: string;
  } = {},
): Promise<ChildGateway> {
  if (!existsSync(compiledMain)) {
    throw new Error("dist/main.js is missing: npm run bench builds it (npm run build)");
  }
  const sim =
    options.sim ??
    (await startSimulator({ keys: [upstreamKey], recordRequests: false, ...simOptions }));
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-bench-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const nodeFlags = [
    ...(process.env.BENCH_EXPOSE_GC === "1" ? ["--expose-gc"] : []),
    ...(process.env.BENCH_GATEWAY_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
  ];
  const child: ChildProcess = spawn(
    "/bin/sh",
    [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
      "sh",
      process.execPath,
      ...nodeFlags,
      childEntry,
    ],
    {
      cwd: projectRoot,
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, ...gatewayEnv(sim.url, dataDir, port), ...options.env },
    },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: Array<(line: string) => void> = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      await exited;
    }
    lines.close();
    if (options.sim === undefined) await sim.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const first = await Promise.race([
      nextLine(),
      exited.then(([code]) => {
        throw new Error(`gateway child exited with ${String(code)} before listening`);
      }),
    ]);
    const { pid } = JSON.parse(first) as { pid: number };
    return {
      url,
      pid,
      process: child,
      apiKey: options.apiKey ?? (await createTenant(url, "bench")),
      sim,
      async memory(gc = false) {
        const line = nextLine();
        child.stdin?.write(gc ? "memory gc\n" : "memory\n");
        return JSON.parse(await line) as NodeJS.MemoryUsage;
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A tenant with no limits through the admin API; its API key. */
export async function createTenant(url: string, name: string): Promise<string> {
  const admin = new Pool(url, { connections: 1 });
  try {
    const created = await admin.request({
      path: "/admin/tenants",
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    const tenant = (await created.body.json()) as { api_key?: string };
    if (created.statusCode !== 201 && created.statusCode !== 200) {
      throw new Error(`creating the tenant answered ${created.statusCode}`);
    }
    if (tenant.api_key === undefined) throw new Error("creating the tenant gave no api_key");
    return tenant.api_key;
  } finally {
    await admin.close();
  }
}

/** A POST /v1/images/generations for undici's request(). */
export function generationRequest(apiKey: string, body: Record<string, unknown>) {
  return {
    path: "/v1/images/generations",
    method: "POST" as const,
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}
