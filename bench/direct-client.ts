// Clients that talk to the simulator directly, without the gateway: the
// yardsticks every gateway figure is measured against.
import { setTimeout as sleep } from "node:timers/promises";
import type { Pool } from "undici";
import { upstreamKey } from "./child-gateway.js";
import { wallNow } from "./stats.js";

const auth = { authorization: `Bearer ${upstreamKey}` };

export interface DirectOutcome {
  taskId: string;
  status: "SUCCESS" | "FAILURE";
  /** wallNow() when the outcome was known: the images downloaded, or the failure read. */
  doneAt: number;
}

export interface ReadPlan {
  /** Delay from the submit's answer to the first read. */
  firstReadMs: number;
  /** Delay between reads after that. */
  intervalMs: number;
}

/** An optimal client of a zero-latency upstream: reads at once, then every 20 ms. */
export const denseReads: ReadPlan = { firstReadMs: 0, intervalMs: 20 };
/** The naive client: a read every 2 s, the first 2 s after the submit. */
export const fixed2s: ReadPlan = { firstReadMs: 2_000, intervalMs: 2_000 };

/**
 * Submit, read on `plan` until the task ends, download every image (and
 * base64 it, as a b64_json answer would). What a direct client of the
 * upstream does, with no storage, records or answer to build.
 */
export async function directGenerate(
  upstream: Pool,
  body: Record<string, unknown>,
  plan: ReadPlan = denseReads,
): Promise<DirectOutcome> {
  const submitted = await upstream.request({
    path: "/v1/images/generations/async",
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = (await submitted.body.json()) as { task_id?: string };
  if (submitted.statusCode !== 200 || answer.task_id === undefined) {
    throw new Error(`direct submit answered ${submitted.statusCode}`);
  }
  const taskId = answer.task_id;
  if (plan.firstReadMs > 0) await sleep(plan.firstReadMs);
  for (;;) {
    const read = await upstream.request({
      path: `/v1/images/tasks/${taskId}`,
      method: "GET",
      headers: auth,
    });
    const task = (await read.body.json()) as {
      data: { status: string; data?: { data: unknown[] } };
    };
    const status = task.data.status.toUpperCase();
    if (status === "FAILURE") return { taskId, status, doneAt: wallNow() };
    if (status === "SUCCESS") {
      const count = task.data.data?.data.length ?? 1;
      for (let index = 0; index < count; index++) {
        const download = await upstream.request({
          path: `/v1/images/tasks/${taskId}/content?index=${index}`,
          method: "GET",
          headers: auth,
        });
        Buffer.from(await download.body.arrayBuffer()).toString("base64");
      }
      return { taskId, status, doneAt: wallNow() };
    }
    await sleep(plan.intervalMs);
  }
}
