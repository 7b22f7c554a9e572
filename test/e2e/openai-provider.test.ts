// The synchronous "openai" provider end to end: a gateway in front of its
// default async simulator (ch_default) and a second simulator, in its
// synchronous mode, registered as an "openai" channel with a higher priority.
// Generations, edits, variations and the async API go through one call per
// generation; failover happens only after a definite refusal; an ambiguous
// answer or a restart mid-call is never repeated (never paid twice).
import { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { defaultChannelId } from "../../src/channels/channel.js";
import { systemClock } from "../../src/clock.js";
import { type GenerationRecords, utcDay } from "../../src/generation/record.js";
import { variationPrompt } from "../../src/http/routes/images.js";
import { closeGracefully } from "../../src/shutdown.js";
import type { Simulator } from "../../src/simulator/server.js";
import { openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../../src/stores/sqlite/generation-records.js";
import { apiError } from "../helpers/api-error.js";
import { admin, channel, simulatorPool, until } from "../helpers/channels.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { addOpenAIChannel, asyncCalls, syncCalls } from "../helpers/openai-channel.js";

let gw: TestGateway | undefined;
const sims = simulatorPool();
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await sims.closeAll();
});

const openaiKey = "oa-key";

/** A gateway with ch_default (async sim) and an openai channel (sync sim) ahead of it. */
async function setup(settings: Record<string, unknown> = {}, key = openaiKey) {
  const gateway = await buildTestApp();
  gw = gateway;
  const oa = await sims.start([openaiKey]);
  const view = await addOpenAIChannel(gateway, oa, key, settings);
  expect(view.provider).toBe("openai");
  expect(view.base_url).toBe(`${oa.url}/v1`);
  return { gw: gateway, oa, channelId: view.id };
}

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (fill: number, size = 300) => Buffer.concat([pngSignature, Buffer.alloc(size, fill)]);

/** The only task the sim made (the sync mode records each call as a task). */
function onlyTask(sim: Simulator) {
  expect(sim.submits).toHaveLength(1);
  const [task] = sim.submits;
  if (task === undefined) throw new Error("no task");
  return task;
}

async function api(
  g: TestGateway,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  return fetch(`${g.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${g.apiKey}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

interface TaskAnswer {
  data: {
    task_id: string;
    status: string;
    fail_reason?: string;
    result_url?: string;
    data?: { data: Array<{ url: string }> };
  };
}

/** Reads the gateway's generation records through a second connection to its database. */
async function readLedger<T>(
  g: TestGateway,
  read: (ledger: GenerationRecords) => Promise<T>,
): Promise<T> {
  const db = openStore(g.config.dataDir);
  try {
    return await read(createSqliteGenerationRecords(db, systemClock));
  } finally {
    db.close();
  }
}

async function readTask(g: TestGateway, id: string): Promise<TaskAnswer> {
  const response = await api(g, `/v1/images/tasks/${id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as TaskAnswer;
}

describe("generations through the openai channel", () => {
  it("b64_json: one sync call, the sim's image, nothing on the async channel", async () => {
    const { gw, oa, channelId } = await setup();
    const result = await gw.client.images.generate({
      model: "gpt-image-1",
      prompt: "a lighthouse",
      response_format: "b64_json",
    });
    const task = onlyTask(oa);
    expect(syncCalls(oa)).toBe(1);
    expect(task.key).toBe(openaiKey);
    expect(task.model).toBe("gpt-image-2");
    expect(task.prompt).toBe("a lighthouse");
    expect(result.data).toHaveLength(1);
    const bytes = Buffer.from(result.data?.[0]?.b64_json ?? "", "base64");
    expect(bytes.equals(oa.image(task.taskId, 0).bytes)).toBe(true);
    expect(asyncCalls(gw.sim)).toBe(0);
    expect(asyncCalls(oa)).toBe(0);
    // The channel is idle again once the call is over.
    await until(
      async () => (await channel(gw, channelId)).health.in_flight === 0,
      "the channel's task slot to be released",
    );
  });

  it("n=2 gives both images of the one call", async () => {
    const { gw, oa } = await setup();
    const result = await gw.client.images.generate({
      model: "gpt-image-2",
      prompt: "two",
      n: 2,
      response_format: "b64_json",
    });
    const task = onlyTask(oa);
    expect(task.n).toBe(2);
    const images = (result.data ?? []).map((item) => Buffer.from(item.b64_json ?? "", "base64"));
    expect(images).toHaveLength(2);
    expect(images[0]?.equals(oa.image(task.taskId, 0).bytes)).toBe(true);
    expect(images[1]?.equals(oa.image(task.taskId, 1).bytes)).toBe(true);
  });

  it("response_format url: a gateway URL that works without any key", async () => {
    const { gw, oa } = await setup();
    const result = await gw.client.images.generate({
      model: "gpt-image-2",
      prompt: "a map",
      response_format: "url",
    });
    const url = result.data?.[0]?.url ?? "";
    expect(url.startsWith(`${gw.url}/`)).toBe(true);
    expect(url).not.toContain(oa.url);
    const fetched = await fetch(url);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get("content-type")).toBe("image/png");
    const bytes = Buffer.from(await fetched.arrayBuffer());
    expect(bytes.equals(oa.image(onlyTask(oa).taskId, 0).bytes)).toBe(true);
  });
});

describe("edits and variations through the openai channel", () => {
  it("images.edit with an uploaded file: the sim receives the reference", async () => {
    const { gw, oa } = await setup();
    const image = png(1);
    const result = await gw.client.images.edit({
      model: "gpt-image-2",
      prompt: "make it blue",
      image: await toFile(image, "in.png", { type: "image/png" }),
    });
    expect(result.data?.[0]?.b64_json).toBeTruthy();
    const task = onlyTask(oa);
    expect(task.prompt).toBe("make it blue");
    const references = await oa.references(task.taskId);
    expect(references).toHaveLength(1);
    expect(references[0]?.imageType).toBe("image/png");
    expect(references[0]?.bytes.equals(image)).toBe(true);
    expect(asyncCalls(gw.sim)).toBe(0);
  });

  it("images.edit with several files sends them all, in order", async () => {
    const { gw, oa } = await setup();
    const images = [png(1), png(2, 500)];
    await gw.client.images.edit({
      model: "gpt-image-2",
      prompt: "combine",
      image: await Promise.all(images.map((bytes, i) => toFile(bytes, `${i}.png`))),
    });
    const references = await oa.references(onlyTask(oa).taskId);
    expect(references.map((reference) => reference.bytes)).toEqual(images);
  });

  it("images.createVariation runs on the variation model (dall-e-2 → gpt-image-2) on the openai channel", async () => {
    // The channel lists the upstream model variations run on, explicitly.
    const { gw, oa } = await setup({ models: ["gpt-image-2"] });
    const image = png(3);
    const result = await gw.client.images.createVariation({
      image: await toFile(image, "in.png", { type: "image/png" }),
      response_format: "b64_json",
    });
    expect(result.data).toHaveLength(1);
    const task = onlyTask(oa);
    expect(task.model).toBe("gpt-image-2");
    expect(task.prompt).toBe(variationPrompt);
    const references = await oa.references(task.taskId);
    expect(references).toHaveLength(1);
    expect(references[0]?.bytes.equals(image)).toBe(true);
    expect(asyncCalls(gw.sim)).toBe(0);
  });
});

describe("the async API through the openai channel", () => {
  it("a submit returns a task id; reading it gives the result", async () => {
    const { gw, oa } = await setup();
    const submitted = await api(gw, "/v1/images/generations/async", {
      method: "POST",
      body: { model: "gpt-image-2", prompt: "async over sync" },
    });
    expect(submitted.status).toBe(200);
    const { task_id: id } = (await submitted.json()) as { task_id: string };
    expect(id).toBeTruthy();
    // The gateway's id, never the sync call's own.
    expect(id).not.toMatch(/^sync_/);

    let task: TaskAnswer | undefined;
    await until(async () => {
      task = await readTask(gw, id);
      return task.data.status === "SUCCESS" || task.data.status === "FAILURE";
    }, "the task to finish");
    expect(task?.data.status).toBe("SUCCESS");
    const url = task?.data.result_url ?? "";
    expect(url.startsWith(`${gw.url}/v1/images/tasks/${id}/content`)).toBe(true);
    const content = await api(gw, new URL(url).pathname + new URL(url).search);
    expect(content.status).toBe(200);
    const bytes = Buffer.from(await content.arrayBuffer());
    expect(bytes.equals(oa.image(onlyTask(oa).taskId, 0).bytes)).toBe(true);
    expect(syncCalls(oa)).toBe(1);
    expect(asyncCalls(gw.sim)).toBe(0);
  });
});

describe("usage per channel", () => {
  it("GET /admin/channels/:id/usage counts the sync calls and their images", async () => {
    const { gw, channelId } = await setup();
    await gw.client.images.generate({ model: "gpt-image-2", prompt: "one" });
    await gw.client.images.generate({ model: "gpt-image-2", prompt: "two", n: 2 });

    type Report = {
      channel_id: string;
      data: Array<{ day: string; submits: number; images: number; failures: number }>;
      totals: { submits: number; images: number; failures: number };
    };
    const report = async (): Promise<Report> => {
      const usage = await admin(gw, "GET", `/admin/channels/${channelId}/usage`);
      expect(usage.statusCode).toBe(200);
      return usage.json<Report>();
    };
    // Each outcome is recorded once its images are on disk, just after the answer.
    await until(async () => (await report()).totals.images === 3, "both outcomes to be recorded");
    const shown = await report();
    expect(shown.channel_id).toBe(channelId);
    expect(shown.totals).toEqual({ submits: 2, images: 3, failures: 0 });
    expect(shown.data).toEqual([{ day: utcDay(Date.now()), submits: 2, images: 3, failures: 0 }]);

    const other = await admin(gw, "GET", `/admin/channels/${defaultChannelId}/usage`);
    expect(other.json<{ totals: { submits: number } }>().totals.submits).toBe(0);
  });
});

describe("failover", () => {
  const refusals = [
    {
      name: "401 (the openai channel's key is wrong)",
      key: "wrong-key",
      fault: undefined,
    },
    {
      name: "429 (the openai channel is throttled)",
      key: openaiKey,
      fault: {
        status: 429,
        body: {
          error: {
            message: "Rate limit reached",
            type: "requests",
            param: null,
            code: "rate_limit_exceeded",
          },
        },
        headers: { "retry-after": "1" },
      },
    },
  ];

  it.each(refusals)(
    "$name: the default async channel takes it, one submit in total",
    async ({ key, fault }) => {
      const { gw, oa, channelId } = await setup({}, key);
      if (fault !== undefined) oa.inject({ route: "images", ...fault });
      const result = await gw.client.images.generate({
        model: "gpt-image-2",
        prompt: "fail over",
        response_format: "b64_json",
      });
      expect(result.data).toHaveLength(1);
      // One call refused on the openai channel, then one submit on the async one.
      expect(syncCalls(oa)).toBe(1);
      expect(oa.submits).toHaveLength(0);
      expect(gw.sim.submits).toHaveLength(1);
      expect(gw.sim.counts.submit).toBe(1);
      const bytes = Buffer.from(result.data?.[0]?.b64_json ?? "", "base64");
      expect(bytes.equals(gw.sim.image(gw.sim.submits[0]?.taskId ?? "", 0).bytes)).toBe(true);

      // The generation is the async channel's: the refusing channel accepted nothing.
      const usage = (id: string) =>
        admin(gw, "GET", `/admin/channels/${id}/usage`).then(
          (answer) => answer.json<{ totals: { submits: number } }>().totals.submits,
        );
      await until(async () => (await usage(defaultChannelId)) === 1, "the default channel's usage");
      expect(await usage(channelId)).toBe(0);
    },
  );
});

describe("no failover once a sync call may have been made", () => {
  const ambiguous = [
    { name: "a 500 answer", fault: { route: "images" as const, status: 500, body: {} } },
    {
      name: "a connection cut after the images were made",
      fault: { route: "images" as const, passThrough: true, destroy: true },
    },
  ];

  it.each(ambiguous)(
    "$name: the caller gets an error, the async sim gets nothing",
    async ({ fault }) => {
      const { gw, oa, channelId } = await setup();
      oa.inject(fault);
      const err = await apiError(
        gw.client.images.generate({ model: "gpt-image-2", prompt: "maybe billed" }),
      );
      expect(err.status).toBe(502);
      expect(err.code).toBe("upstream_submit_unconfirmed");
      // The SDK must not retry it either.
      expect(err.headers?.get("x-should-retry")).toBe("false");
      expect(syncCalls(oa)).toBe(1);
      expect(gw.sim.submits).toHaveLength(0);
      expect(asyncCalls(gw.sim)).toBe(0);
      // The account may bill it: its usage counts it, as a failure.
      await until(
        async () => (await readLedger(gw, (ledger) => ledger.unfinished())).length === 0,
        "the outcome to be recorded",
      );
      const usage = await admin(gw, "GET", `/admin/channels/${channelId}/usage`);
      expect(usage.json<{ totals: { submits: number } }>().totals).toMatchObject({
        submits: 1,
        failures: 1,
      });
    },
  );
});

describe("a refusal of the request itself", () => {
  it("[sim:fail=…] is a 400 for the caller and nothing is tried elsewhere", async () => {
    const { gw, oa } = await setup();
    const err = await apiError(
      gw.client.images.generate({
        model: "gpt-image-2",
        prompt: "a forbidden thing [sim:fail=rejected by the safety system]",
      }),
    );
    expect(err.status).toBe(400);
    expect(err.code).toBe("content_policy_violation");
    expect(err.message).toContain("rejected by the safety system");
    expect(syncCalls(oa)).toBe(1);
    expect(gw.sim.submits).toHaveLength(0);
    expect(asyncCalls(gw.sim)).toBe(0);
  });

  it("a refused call is not a submit in the channel's usage (nothing was accepted)", async () => {
    const { gw, oa, channelId } = await setup();
    const err = await apiError(
      gw.client.images.generate({ model: "gpt-image-2", prompt: "p [sim:fail=safety system]" }),
    );
    expect(err.status).toBe(400);
    expect(syncCalls(oa)).toBe(1);
    // The refusal is on record (refused, and kept out of the tenant's budget) …
    await until(
      async () => (await readLedger(gw, (ledger) => ledger.unfinished())).length === 0,
      "the refusal to be recorded",
    );
    // … and, as for an async channel's refused submit, it is no task the account accepted.
    const usage = await admin(gw, "GET", `/admin/channels/${channelId}/usage`);
    expect(usage.json<{ totals: { submits: number } }>().totals).toEqual({
      submits: 0,
      images: 0,
      failures: 0,
    });
  });
});

describe("a restart while a sync call is in flight", () => {
  it("leaves the generation unknown (upstream_submit_unconfirmed) and never repeats the call", async () => {
    const { gw, oa, channelId } = await setup();
    const body = { model: "gpt-image-2", prompt: "slow [sim:duration=5000]" };
    const headers = { "idempotency-key": "restart-during-sync-call" };
    // Cut off by the shutdown below.
    const first = api(gw, "/v1/images/generations", { method: "POST", body, headers }).catch(
      (err: unknown) => err,
    );
    await until(() => oa.submits.length === 1, "the sim to receive the call");

    // While the call runs, its record already says it was sent: running, a
    // sync_ task id, the openai channel.
    const inFlight = await readLedger(gw, (ledger) => ledger.unfinished());
    expect(inFlight).toHaveLength(1);
    const [record] = inFlight;
    const id = record?.id ?? "";
    expect(record).toMatchObject({ state: "running", channelId });
    expect(record?.upstreamTaskId).toMatch(/^sync_/);

    // A shutdown whose drain is over at once (as SIGTERM past
    // IMAGEGATE_DRAIN_TIMEOUT_MS), then a new process on the same data dir.
    await closeGracefully(gw.app, 0);
    await gw.restart();
    await first;

    const after = await readLedger(gw, (ledger) => ledger.get(id));
    expect(after?.state).toBe("unknown");
    expect(after?.error?.code).toBe("upstream_submit_unconfirmed");

    const task = await readTask(gw, id);
    expect(task.data.status).toBe("FAILURE");
    expect(task.data.fail_reason).toContain("double charge");

    // The same request again, with its Idempotency-Key: the recorded outcome, no new call.
    const again = await api(gw, "/v1/images/generations", { method: "POST", body, headers });
    expect(again.headers.get("x-imagegate-task-id")).toBe(id);
    expect(again.status).toBe(502);
    const answer = (await again.json()) as { error?: { code?: string } };
    expect(answer.error?.code).toBe("upstream_submit_unconfirmed");

    expect(syncCalls(oa)).toBe(1);
    expect(oa.submits).toHaveLength(1);
    expect(asyncCalls(gw.sim)).toBe(0);
  });
});

describe("routing by model", () => {
  it("a nano-banana request never goes to the openai channel", async () => {
    const { gw, oa } = await setup();
    const result = await gw.client.images.generate({
      model: "nano-banana",
      prompt: "a banana",
      response_format: "b64_json",
    });
    expect(result.data).toHaveLength(1);
    expect(syncCalls(oa)).toBe(0);
    expect(oa.requests).toHaveLength(0);
    expect(gw.sim.submits).toHaveLength(1);
    expect(gw.sim.submits[0]?.model).toBe("gemini-3.1-flash-image-preview");
  });

  it("an openai channel that lists a model serves it, and then no longer serves gpt-image-2", async () => {
    const { gw, oa } = await setup({ models: ["gemini-3.1-flash-image-preview"] });
    await gw.client.images.generate({ model: "nano-banana", prompt: "a banana" });
    expect(onlyTask(oa).model).toBe("gemini-3.1-flash-image-preview");
    await gw.client.images.generate({ model: "gpt-image-2", prompt: "a lighthouse" });
    expect(syncCalls(oa)).toBe(1);
    expect(gw.sim.submits).toHaveLength(1);
    expect(gw.sim.submits[0]?.model).toBe("gpt-image-2");
  });
});
