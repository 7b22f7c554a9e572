// Kill and restart: the gateway process is killed with SIGKILL mid-task (no
// shutdown code runs), started again on the same data dir, and the finished
// result is found through the async API, with one submit upstream.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type Simulator, startSimulator } from "../../src/simulator/server.js";
import {
  adminToken,
  type CompiledSources,
  compileSources,
  freePort,
  masterKey,
} from "../helpers/gateway.js";

// The gateway compiled once to JavaScript, run by plain Node as `dist/main.js` is.
let compiled: CompiledSources;
beforeAll(async () => {
  compiled = await compileSources();
});
afterAll(async () => {
  await compiled?.remove();
});

let sim: Simulator | undefined;
let child: ChildProcess | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  child?.kill("SIGKILL");
  await sim?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// Node itself (not a launcher such as the tsx CLI, which runs Node in a child
// process that a SIGKILL to the launcher would leave running).
function startGateway(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [compiled.entry("main.ts")], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: "ignore",
  });
}

async function until<T>(check: () => Promise<T>): Promise<T> {
  return vi.waitFor(check, { timeout: 30_000, interval: 50 });
}

describe("kill and restart", { timeout: 90_000 }, () => {
  it("a task running when the process is killed is resumed and its result kept", async () => {
    sim = await startSimulator({ keys: ["sim-key"] });
    dataDir = await mkdtemp(join(tmpdir(), "imagegate-kill-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      IMAGEGATE_UPSTREAM_URL: sim.url,
      IMAGEGATE_UPSTREAM_KEY: "sim-key",
      IMAGEGATE_DATA_DIR: dataDir,
      IMAGEGATE_PUBLIC_URL: base,
      IMAGEGATE_ADMIN_TOKEN: adminToken,
      IMAGEGATE_MASTER_KEY: masterKey,
    };
    child = startGateway(env);
    await until(async () => expect((await fetch(`${base}/readyz`)).status).toBe(200));
    const created = await fetch(`${base}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "k" }),
    });
    const { api_key: apiKey } = (await created.json()) as { api_key: string };
    const auth = { authorization: `Bearer ${apiKey}` };

    const submitted = await fetch(`${base}/v1/images/generations/async`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-banana", prompt: "p [sim:duration=1000]" }),
    });
    const { task_id: id } = (await submitted.json()) as { task_id: string };
    expect(sim.submits).toHaveLength(1);

    const killed = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGKILL");
    await killed;
    const killedAt = Date.now();
    // Nothing answers any more: the process is really gone.
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();

    child = startGateway(env);
    const task = await until(async () => {
      const response = await fetch(`${base}/v1/images/tasks/${id}`, { headers: auth });
      const body = (await response.json()) as { data: { status: string } };
      expect(body.data.status).toBe("SUCCESS");
      return body;
    });
    expect(task.data.status).toBe("SUCCESS");
    const image = await fetch(`${base}/v1/images/tasks/${id}/content?index=0`, { headers: auth });
    expect(image.status).toBe(200);
    const bytes = Buffer.from(await image.arrayBuffer());
    expect(bytes.equals(sim.image(sim.submits[0]?.taskId ?? "", 0).bytes)).toBe(true);
    expect(sim.submits).toHaveLength(1);
    // The result was fetched by the process started after the kill: the task
    // was still running when the first one died.
    const downloads = sim.requests.filter((r) => r.route === "download");
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((r) => r.at >= killedAt)).toBe(true);
  });
});
