// GET /admin/generations and /admin/status: what the console's live pages
// read. Generations of every tenant, newest first, with their outcome, lag
// and error; the gateway's tasks in flight and channels.
import { afterEach, describe, expect, it } from "vitest";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

interface View {
  id: string;
  tenant_id: string;
  state: string;
  model: string;
  requested_model: string;
  created_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  lag_ms: number | null;
  progress: number | null;
  error: { status: number; code: string | null; message: string } | null;
}

async function admin<T>(gateway: TestGateway, path: string, token = adminToken) {
  const response = await fetch(`${gateway.url}/admin${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as T };
}

describe("the operator's generations and status", { timeout: 30_000 }, () => {
  it("lists every tenant's generations, newest first, filtered and paged", async () => {
    gw = await buildTestApp();
    const other = await gw.createTenant({ name: "other" });
    await gw.client.images.generate({ model: "gpt-image-2", prompt: "a lighthouse" });
    await expect(
      gw.clientWith(other.apiKey, { maxRetries: 0 }).images.generate({
        model: "gpt-image-2",
        prompt: "p [sim:fail=worker exploded]",
      }),
    ).rejects.toThrow();

    const all = await admin<{ data: View[]; has_more: boolean }>(gw, "/generations");
    expect(all.status).toBe(200);
    expect(all.body.has_more).toBe(false);
    const [failed, succeeded] = all.body.data as [View, View];
    expect(all.body.data).toHaveLength(2);
    expect(failed).toMatchObject({ tenant_id: other.id, state: "failed", progress: null });
    expect(failed.error).toMatchObject({ code: "upstream_task_failed" });
    expect(failed.error?.message).toMatch(/worker exploded/);
    expect(succeeded).toMatchObject({
      tenant_id: gw.tenantId,
      state: "succeeded",
      requested_model: "gpt-image-2",
      error: null,
    });
    expect(succeeded.duration_ms).toBeGreaterThanOrEqual(0);
    // Ready upstream → answered, estimated from the reads around it.
    expect(succeeded.lag_ms).toBeGreaterThanOrEqual(0);

    const mine = await admin<{ data: View[] }>(gw, `/generations?tenant=${gw.tenantId}`);
    expect(mine.body.data.map((view) => view.id)).toEqual([succeeded.id]);
    const failures = await admin<{ data: View[] }>(gw, "/generations?state=failed");
    expect(failures.body.data.map((view) => view.id)).toEqual([failed.id]);

    const page1 = await admin<{ data: View[]; has_more: boolean }>(gw, "/generations?limit=1");
    expect(page1.body.data.map((view) => view.id)).toEqual([failed.id]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await admin<{ data: View[]; has_more: boolean }>(
      gw,
      `/generations?limit=1&before=${failed.id}`,
    );
    expect(page2.body.data.map((view) => view.id)).toEqual([succeeded.id]);
    expect(page2.body.has_more).toBe(false);

    const one = await admin<View>(gw, `/generations/${succeeded.id}`);
    expect(one.body).toEqual(succeeded);
  });

  it("refuses what it cannot answer in the OpenAI error shape", async () => {
    gw = await buildTestApp();
    expect((await admin(gw, "/generations", gw.apiKey)).status).toBe(401);
    expect((await admin(gw, "/status", "wrong-token")).status).toBe(401);
    const missing = await admin<{ error: { code: string } }>(gw, "/generations/gen_nothing");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("generation_not_found");
    const badLimit = await admin<{ error: { param: string } }>(gw, "/generations?limit=500");
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.param).toBe("limit");
    const badState = await admin<{ error: { param: string } }>(gw, "/generations?state=done");
    expect(badState.status).toBe(400);
    expect(badState.body.error.param).toBe("state");
    const badCursor = await admin<{ error: { param: string } }>(gw, "/generations?before=gen_x");
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.param).toBe("before");
  });

  it("shows a running generation's progress and the tasks in flight while it runs", async () => {
    gw = await buildTestApp();
    const pending = gw.client.images.generate({
      model: "gpt-image-2",
      prompt: "slow [sim:duration=3000]",
    });
    let running: View | undefined;
    await expect
      .poll(
        async () => {
          const list = await admin<{ data: View[] }>(gw as TestGateway, "/generations");
          running = list.body.data[0];
          return running?.state === "running" && running.progress !== null;
        },
        { timeout: 10_000, interval: 50 },
      )
      .toBe(true);
    expect(running?.progress).toBeGreaterThanOrEqual(0);
    expect(running?.progress).toBeLessThanOrEqual(1);
    const status = await admin<{
      object: string;
      tasks_in_flight: number;
      uptime_seconds: number;
      channels: Array<{ id: string; circuit: string; in_flight: number; enabled: boolean }>;
    }>(gw, "/status");
    expect(status.body.object).toBe("status");
    expect(status.body.tasks_in_flight).toBe(1);
    expect(status.body.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(status.body.channels).toEqual([
      expect.objectContaining({ id: "ch_default", circuit: "closed", in_flight: 1, enabled: true }),
    ]);
    await pending;
    const after = await admin<{ tasks_in_flight: number }>(gw, "/status");
    expect(after.body.tasks_in_flight).toBe(0);
  });
});
