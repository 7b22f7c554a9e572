// Runs the task mix (src/simulator/task-mix.ts) two ways at once: every task
// through the gateway, and every task by a direct client reading every 2 s
// against a simulator of its own (so the simulator's read count is the
// gateway's alone). Each prompt carries directives so that the simulator plays
// exactly that task. Returns, per task, when its end was and when each client
// knew it; the analysis is bench/lag.ts.
import { Pool } from "undici";
import { type Simulator, startSimulator } from "../src/simulator/server.js";
import type { MixTask } from "../src/simulator/task-mix.js";
import {
  type ChildGateway,
  generationRequest,
  startChildGateway,
  upstreamKey,
} from "./child-gateway.js";
import { denseReads, directGenerate, fixed2s, type ReadPlan } from "./direct-client.js";
import { failureOf, median, wallNow } from "./stats.js";

/** The reason failing tasks give: no content-policy words, so a plain upstream failure. */
const failReason = "worker crashed";

export interface Outcome {
  /** From the task's end (result ready, or failure) to the answer; the baseline subtracted. */
  lagMs: number;
  /** How it ended for the caller: "ok", "failed (HTTP 502 ...)", or an error that does not fit the task. */
  answer: string;
  /** Whether the answer is the one the task should give (200 for a success, an error for a failure). */
  right: boolean;
  taskId: string | undefined;
}

export interface MixRun {
  tasks: MixTask[];
  gateway: Outcome[];
  poller: Outcome[];
  /** Reads the gateway made during the mix. */
  gatewayReads: number;
  pollerReads: number;
  /** The lag of a task that is done at once, subtracted from each lag above. */
  baselines: {
    gateway: Map<string, number>;
    gatewayFailure: number;
    direct: number;
    directFailure: number;
  };
  /** Every read the gateway made of each task, as ms since its submit. */
  readTimes: Map<string, number[]>;
}

function prompt(
  tag: string,
  task: Pick<MixTask, "durationMs" | "profile" | "failAfterMs">,
): string {
  const fail =
    task.failAfterMs === undefined
      ? ""
      : ` [sim:fail=${failReason}] [sim:fail_after=${task.failAfterMs}]`;
  return `${tag} [sim:duration=${task.durationMs}] [sim:progress=${task.profile}]${fail}`;
}

const endOf = (task: MixTask) => task.failAfterMs ?? task.durationMs;

/** Through the gateway: the answer, and when it had fully arrived. */
async function viaGateway(
  pool: Pool,
  apiKey: string,
  body: Record<string, unknown>,
): Promise<{ status: number; code: string; doneAt: number }> {
  const response = await pool.request({
    ...generationRequest(apiKey, body),
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
  });
  const text = await response.body.text();
  const doneAt = wallNow();
  let code = "";
  if (response.statusCode !== 200) {
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "";
    } catch {}
  }
  return { status: response.statusCode, code, doneAt };
}

/** The simulator's task whose prompt starts with `tag ` (tags are unique per run). */
function simTask(sim: Simulator, tag: string) {
  for (let i = sim.submits.length - 1; i >= 0; i--) {
    const info = sim.submits[i];
    if (info?.prompt.startsWith(`${tag} `)) return info;
  }
  return undefined;
}

async function gatewayOutcome(
  gateway: ChildGateway,
  pool: Pool,
  model: string,
  tag: string,
  task: MixTask,
  baseline: number,
): Promise<Outcome> {
  const shouldFail = task.failAfterMs !== undefined;
  try {
    const answer = await viaGateway(pool, gateway.apiKey, { model, prompt: prompt(tag, task) });
    const info = simTask(gateway.sim, tag);
    const label = answer.status === 200 ? "ok" : `HTTP ${answer.status} ${answer.code}`.trim();
    return {
      lagMs:
        info === undefined ? Number.NaN : answer.doneAt - info.submittedAt - endOf(task) - baseline,
      answer: label,
      right: info !== undefined && (answer.status === 200) !== shouldFail,
      taskId: info?.taskId,
    };
  } catch (err) {
    return { lagMs: Number.NaN, answer: failureOf(err), right: false, taskId: undefined };
  }
}

async function directOutcome(
  sim: Simulator,
  pool: Pool,
  model: string,
  tag: string,
  task: MixTask,
  plan: ReadPlan,
  baseline: number,
): Promise<Outcome> {
  const shouldFail = task.failAfterMs !== undefined;
  try {
    const done = await directGenerate(pool, { model, prompt: prompt(tag, task) }, plan);
    const info = sim.task(done.taskId);
    return {
      lagMs:
        info === undefined ? Number.NaN : done.doneAt - info.submittedAt - endOf(task) - baseline,
      answer: done.status === "SUCCESS" ? "ok" : "failed",
      right: (done.status === "FAILURE") === shouldFail,
      taskId: done.taskId,
    };
  } catch (err) {
    return { lagMs: Number.NaN, answer: failureOf(err), right: false, taskId: undefined };
  }
}

const instant: MixTask = { model: "", durationMs: 0, profile: "linear" };
const instantFailure: MixTask = { ...instant, failAfterMs: 0 };

/**
 * The lag of tasks that are done at once, read at once: what answering costs
 * when the end is noticed the instant it happens (the submit's answer, one
 * read, the download, the answer). Per model through the gateway, whose work
 * after the result differs by model. The median of a few, after a warm-up.
 */
async function measureBaselines(
  gateway: ChildGateway,
  gatewayPool: Pool,
  pollerSim: Simulator,
  pollerPool: Pool,
  models: readonly string[],
): Promise<MixRun["baselines"]> {
  let n = 0;
  const gatewayLags = async (model: string, task: MixTask, count: number) => {
    const lags: number[] = [];
    for (let i = 0; i < count; i++) {
      const out = await gatewayOutcome(gateway, gatewayPool, model, `base${n++}`, task, 0);
      if (!out.right) throw new Error(`lag baseline through the gateway: ${out.answer}`);
      lags.push(out.lagMs);
    }
    return lags;
  };
  const directLags = async (task: MixTask, count: number) => {
    const lags: number[] = [];
    for (let i = 0; i < count; i++) {
      const model = models[0] as string;
      const out = await directOutcome(
        pollerSim,
        pollerPool,
        model,
        `base${n++}`,
        task,
        denseReads,
        0,
      );
      if (!out.right) throw new Error(`lag baseline of the direct client: ${out.answer}`);
      lags.push(out.lagMs);
    }
    return lags;
  };
  const gatewayBase = new Map<string, number>();
  for (const model of models) {
    await gatewayLags(model, instant, 3); // warm-up
    gatewayBase.set(model, median(await gatewayLags(model, instant, 7)));
  }
  await gatewayLags(models[0] as string, instantFailure, 3);
  const gatewayFailure = median(await gatewayLags(models[0] as string, instantFailure, 7));
  await directLags(instant, 5);
  const direct = median(await directLags(instant, 7));
  const directFailure = median(await directLags(instantFailure, 7));
  return { gateway: gatewayBase, gatewayFailure, direct, directFailure };
}

export async function runMix(tasks: MixTask[]): Promise<MixRun> {
  // The simulators' clock is the bench's fine clock (wallNow), so a task's end
  // and an answer's arrival compare to a fraction of a millisecond. The
  // gateway's simulator records requests, to show the reads of the outliers.
  const gateway = await startChildGateway({ now: wallNow, recordRequests: true });
  const pollerSim = await startSimulator({
    keys: [upstreamKey],
    recordRequests: false,
    now: wallNow,
  });
  const gatewayPool = new Pool(gateway.url, { connections: tasks.length + 16 });
  const pollerPool = new Pool(pollerSim.url, { connections: 64 });
  try {
    const models = [...new Set(tasks.map((task) => task.model))];
    const baselines = await measureBaselines(gateway, gatewayPool, pollerSim, pollerPool, models);
    const readsBefore = gateway.sim.counts.read;
    const pollerReadsBefore = pollerSim.counts.read;
    const recordsBefore = gateway.sim.requests.length;
    const [viaGatewayOutcomes, pollerOutcomes] = await Promise.all([
      Promise.all(
        tasks.map((task, i) =>
          gatewayOutcome(
            gateway,
            gatewayPool,
            task.model,
            `mix${i}`,
            task,
            task.failAfterMs === undefined
              ? (baselines.gateway.get(task.model) ?? 0)
              : baselines.gatewayFailure,
          ),
        ),
      ),
      Promise.all(
        tasks.map((task, i) =>
          directOutcome(
            pollerSim,
            pollerPool,
            task.model,
            `mix${i}`,
            task,
            fixed2s,
            task.failAfterMs === undefined ? baselines.direct : baselines.directFailure,
          ),
        ),
      ),
    ]);
    const readTimes = new Map<string, number[]>();
    for (const record of gateway.sim.requests.slice(recordsBefore)) {
      if (record.route !== "read" || record.taskId === undefined) continue;
      const info = gateway.sim.task(record.taskId);
      if (info === undefined) continue;
      const times = readTimes.get(record.taskId) ?? [];
      times.push(record.at - info.submittedAt);
      readTimes.set(record.taskId, times);
    }
    return {
      tasks,
      gateway: viaGatewayOutcomes,
      poller: pollerOutcomes,
      gatewayReads: gateway.sim.counts.read - readsBefore,
      pollerReads: pollerSim.counts.read - pollerReadsBefore,
      baselines,
      readTimes,
    };
  } finally {
    await gatewayPool.close();
    await pollerPool.close();
    await pollerSim.close();
    await gateway.close();
  }
}
