// Channels end to end: two and three simulators as upstream accounts behind
// one gateway. Spreading by weight, failover only after a definite refusal
// (and exactly one submit in total), none after an ambiguous one, a breaker
// per channel, a tenant's private channel, reads and downloads on the
// accepting channel (also after a restart), usage per channel, and the admin
// API's rules (strict bodies, defaults, the key never shown).
import type OpenAI from "openai";
import type { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { defaultChannelId, privateChannelId } from "../../src/channels/channel.js";
import { utcDay } from "../../src/generation/record.js";
import type { Fault, Simulator } from "../../src/simulator/server.js";
import { apiError } from "../helpers/api-error.js";
import {
  addChannel,
  admin,
  agentWithUnresolvable,
  type ChannelView,
  channel,
  simulatorPool,
  submitAttempts,
  until,
} from "../helpers/channels.js";
import { buildTestApp, freePort, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
const sims = simulatorPool();
let agent: Agent | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await sims.closeAll();
  await agent?.close();
  agent = undefined;
});

/** The gateway of the running test. */
const g = (): TestGateway => {
  if (!gw) throw new Error("no gateway");
  return gw;
};

/** A quick generation (done at once upstream), answered as base64. */
const generate = (client: OpenAI, prompt = "p [sim:duration=0]", model = "nano-banana") =>
  client.images.generate({ model, prompt, response_format: "b64_json" });

/** A channel in front of a simulator; priority 1 puts it ahead of ch_default (priority 0). */
const channelOn = (sim: Simulator | string, key: string, settings: Record<string, unknown> = {}) =>
  addChannel(g(), {
    name: `ch-${Math.random().toString(36).slice(2, 10)}`,
    base_url: typeof sim === "string" ? sim : sim.url,
    api_key: key,
    priority: 1,
    ...settings,
  });

/** No IMAGEGATE_UPSTREAM_KEY: no default channel, only the operator's (loadConfig reads undefined as unset). */
const withoutDefaultChannel = { env: { IMAGEGATE_UPSTREAM_KEY: undefined as unknown as string } };

const readsAndDownloads = (sim: Simulator) =>
  sim.requests.filter((r) => r.route === "read" || r.route === "download");

const newApiError = (status: number, code: string, message: string): Omit<Fault, "route"> => ({
  status,
  body: { error: { message, type: "new_api_error", param: "", code } },
});

describe("spreading by weight", () => {
  it("channels of one priority share submits in proportion to their weights", async () => {
    gw = await buildTestApp();
    const heavy = await sims.start(["heavy-key"]);
    const light = await sims.start(["light-key"]);
    await channelOn(heavy, "heavy-key", { weight: 3 });
    await channelOn(light, "light-key", { weight: 1 });

    const total = 200;
    const concurrency = 20;
    for (let done = 0; done < total; done += concurrency) {
      const batch = Array.from({ length: concurrency }, () => generate(g().client));
      for (const result of await Promise.all(batch)) expect(result.data).toHaveLength(1);
    }

    expect(heavy.submits.length + light.submits.length).toBe(total);
    // The default channel has a lower priority: it is only a failover target.
    expect(g().sim.requests).toHaveLength(0);
    // Expected 150 (3:1), standard deviation ~6: the band is ±5σ, so it does
    // not flake. Weights ignored (100 ± 7) land in it with P < 0.3 %,
    // inverted (50 ± 6) never.
    expect(heavy.submits.length).toBeGreaterThanOrEqual(120);
    expect(heavy.submits.length).toBeLessThanOrEqual(180);
  }, 30_000);

  it("a weight of 0 is a standby: taken only when the weighted channels of its priority cannot", async () => {
    gw = await buildTestApp();
    const standby = await sims.start(["s-key"]);
    const main = await sims.start(["m-key"]);
    await channelOn(standby, "s-key", { weight: 0 });
    await channelOn(main, "m-key", { weight: 1 });
    await Promise.all(Array.from({ length: 10 }, () => generate(g().client)));
    expect(main.submits).toHaveLength(10);
    expect(standby.requests).toHaveLength(0);

    main.inject({ route: "submit", ...newApiError(429, "", "too many requests") });
    expect((await generate(g().client)).data).toHaveLength(1);
    expect(standby.submits).toHaveLength(1);
    expect(g().sim.requests).toHaveLength(0);
  });
});

describe("failover on a definite refusal", () => {
  type Refusal = {
    name: string;
    /** Sets up the first channel (priority 2) so that its submit is refused. */
    first: () => Promise<{ sim: Simulator | undefined; view: ChannelView }>;
    credential: number | null;
    gateway?: () => Promise<TestGateway>;
  };
  const refusals: Refusal[] = [
    {
      name: "DNS failure",
      gateway: () => {
        agent = agentWithUnresolvable("upstream-a.invalid");
        return buildTestApp({ deps: { upstreamDispatcher: agent } });
      },
      first: async () => {
        const view = await channelOn("http://upstream-a.invalid", "k", { priority: 2 });
        return { sim: undefined, view };
      },
      credential: null,
    },
    {
      name: "connection refused",
      first: async () => {
        const port = await freePort();
        const view = await channelOn(`http://127.0.0.1:${port}`, "k", { priority: 2 });
        return { sim: undefined, view };
      },
      credential: null,
    },
    {
      name: "401 (the account's key is refused)",
      first: async () => {
        const sim = await sims.start(["real-key"]);
        return { sim, view: await channelOn(sim, "revoked-key", { priority: 2 }) };
      },
      credential: 401,
    },
    {
      name: "403 (the account's quota)",
      first: async () => {
        const sim = await sims.start(["a-key"]);
        sim.inject({
          route: "submit",
          ...newApiError(403, "insufficient_user_quota", "user quota is not enough"),
        });
        return { sim, view: await channelOn(sim, "a-key", { priority: 2 }) };
      },
      credential: 403,
    },
    {
      name: "429 (the account is throttled)",
      first: async () => {
        const sim = await sims.start(["a-key"]);
        sim.inject({ route: "submit", ...newApiError(429, "", "too many requests") });
        return { sim, view: await channelOn(sim, "a-key", { priority: 2 }) };
      },
      credential: null,
    },
    {
      name: "503 model_not_found (the account lacks the model)",
      first: async () => {
        const sim = await sims.start(["a-key"]);
        sim.inject({
          route: "submit",
          ...newApiError(503, "model_not_found", "No available channel for model"),
        });
        return { sim, view: await channelOn(sim, "a-key", { priority: 2 }) };
      },
      credential: null,
    },
  ];

  it.each(refusals)(
    "$name: the next channel takes the task; one submit in total",
    async (refusal) => {
      gw = await (refusal.gateway ?? buildTestApp)();
      const { sim: refusing, view: first } = await refusal.first();
      const second = await sims.start(["b-key"]);
      const secondView = await channelOn(second, "b-key", { priority: 1 });

      const result = await generate(g().client);
      expect(result.data).toHaveLength(1);

      // The first channel was tried once and created nothing; the second took it.
      if (refusing) {
        expect(submitAttempts(refusing)).toBe(1);
        expect(refusing.submits).toHaveLength(0);
      }
      expect(second.submits).toHaveLength(1);
      expect(g().sim.requests).toHaveLength(0);
      // Its reads and download went to the channel that accepted it.
      const taskId = second.submits[0]?.taskId;
      expect(readsAndDownloads(second).length).toBeGreaterThanOrEqual(2);
      expect(readsAndDownloads(second).every((r) => r.taskId === taskId)).toBe(true);
      if (refusing) expect(readsAndDownloads(refusing)).toHaveLength(0);

      const health = (await channel(g(), first.id)).health;
      expect(health.credential_refused?.status ?? null).toBe(refusal.credential);
      await until(
        async () => (await channel(g(), secondView.id)).health.in_flight === 0,
        "the task slot to be released",
      );
    },
  );

  it("a channel whose key was just refused is passed over while others can take the task", async () => {
    gw = await buildTestApp();
    const refusing = await sims.start(["real-key"]);
    const first = await channelOn(refusing, "revoked-key", { priority: 2 });
    const second = await sims.start(["b-key"]);
    await channelOn(second, "b-key", { priority: 1 });

    await generate(g().client);
    await generate(g().client);
    await generate(g().client);
    // Refused once; after that it is the last resort, not the first choice.
    expect(submitAttempts(refusing)).toBe(1);
    expect(second.submits).toHaveLength(3);
    expect((await channel(g(), first.id)).health.credential_refused?.status).toBe(401);
  });
});

describe("no failover after a submit that may have reached the upstream", () => {
  const ambiguous: Array<{ name: string; fault: Omit<Fault, "route">; created: number }> = [
    {
      name: "the task is created, the answer lost",
      fault: { passThrough: true, destroy: true },
      created: 1,
    },
    { name: "500", fault: newApiError(500, "", "internal error"), created: 0 },
    { name: "502", fault: newApiError(502, "", "bad gateway"), created: 0 },
  ];

  it.each(ambiguous)("$name: 502 unconfirmed, one submit in total", async ({ fault, created }) => {
    gw = await buildTestApp();
    const first = await sims.start(["a-key"]);
    const second = await sims.start(["b-key"]);
    const firstView = await channelOn(first, "a-key", { priority: 2 });
    await channelOn(second, "b-key", { priority: 1 });
    first.inject({ route: "submit", ...fault });

    const err = await apiError(generate(g().client));
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_submit_unconfirmed");
    expect(err.headers?.get("x-should-retry")).toBe("false");
    const attempts = [first, second, g().sim].map(submitAttempts);
    expect(attempts).toEqual([1, 0, 0]);
    expect(first.submits).toHaveLength(created);
    // The account may bill it: it is a submit, and a failure, in that channel's usage.
    let totals: unknown;
    await until(async () => {
      totals = (await admin(g(), "GET", `/admin/channels/${firstView.id}/usage`)).json().totals;
      return JSON.stringify(totals) === JSON.stringify({ submits: 1, images: 0, failures: 1 });
    }, "the ambiguous submit in the channel's usage").catch(() => undefined);
    expect(totals).toEqual({ submits: 1, images: 0, failures: 1 });
  });

  it.each([
    { status: 400, code: "upstream_rejected", answered: 400 },
    { status: 413, code: "request_too_large", answered: 413 },
    // Some services of the family answer validation errors so.
    { status: 500, code: "upstream_rejected", answered: 400 },
  ])(
    "a $status invalid_request about the request itself is the caller's error, not tried elsewhere",
    async ({ status, code, answered }) => {
      gw = await buildTestApp();
      const first = await sims.start(["a-key"]);
      const second = await sims.start(["b-key"]);
      await channelOn(first, "a-key", { priority: 2 });
      await channelOn(second, "b-key", { priority: 1 });
      first.inject({
        route: "submit",
        ...newApiError(status, "invalid_request", "size not supported"),
      });

      const err = await apiError(generate(g().client));
      expect(err.status).toBe(answered);
      expect(err.code).toBe(code);
      expect([first, second, g().sim].map(submitAttempts)).toEqual([1, 0, 0]);
    },
  );
});

describe("a breaker per channel", () => {
  it("one channel's breaker opens on repeated failures; the others keep serving, closed", async () => {
    gw = await buildTestApp();
    const failing = await sims.start(["a-key"]);
    const healthy = await sims.start(["b-key"]);
    const failingView = await channelOn(failing, "a-key", { priority: 2 });
    const healthyView = await channelOn(healthy, "b-key", { priority: 1 });
    failing.inject({ route: "submit", ...newApiError(502, "", "bad gateway"), times: 5 });

    // Five ambiguous submits: each a 502 to its caller, none tried elsewhere.
    for (let i = 0; i < 5; i++) {
      const err = await apiError(generate(g().client));
      expect(err.code).toBe("upstream_submit_unconfirmed");
    }
    expect(submitAttempts(healthy)).toBe(0);
    const open = await channel(g(), failingView.id);
    expect(open.health.circuit).toBe("open");
    expect(open.health.retry_after_seconds).toBeGreaterThan(0);

    // The open channel is skipped at once; the next one serves.
    for (let i = 0; i < 3; i++) expect((await generate(g().client)).data).toHaveLength(1);
    expect(submitAttempts(failing)).toBe(5);
    expect(healthy.submits).toHaveLength(3);
    expect((await channel(g(), healthyView.id)).health.circuit).toBe("closed");
    expect((await channel(g(), defaultChannelId)).health.circuit).toBe("closed");
    const list = (await admin(g(), "GET", "/admin/channels")).json<{ data: ChannelView[] }>();
    const circuits = Object.fromEntries(list.data.map((c) => [c.id, c.health.circuit]));
    expect(circuits).toEqual({
      [defaultChannelId]: "closed",
      [failingView.id]: "open",
      [healthyView.id]: "closed",
    });
  });

  it("connections refused open that channel's breaker while every request is served elsewhere", async () => {
    gw = await buildTestApp();
    const deadPort = await freePort();
    const dead = await channelOn(`http://127.0.0.1:${deadPort}`, "k", { priority: 2 });
    const healthy = await sims.start(["b-key"]);
    await channelOn(healthy, "b-key", { priority: 1 });
    for (let i = 0; i < 6; i++) expect((await generate(g().client)).data).toHaveLength(1);
    expect(healthy.submits).toHaveLength(6);
    expect((await channel(g(), dead.id)).health.circuit).toBe("open");
    expect(g().sim.requests).toHaveLength(0);
  });
});

describe("routing", () => {
  it("a channel's models restrict it; /readyz names a model whose only channel has an open breaker", async () => {
    gw = await buildTestApp(withoutDefaultChannel);
    const gemini = await sims.start(["g-key"]);
    const gpt = await sims.start(["o-key"]);
    const geminiView = await channelOn(gemini, "g-key", {
      models: ["gemini-3.1-flash-image-preview"],
    });
    await channelOn(gpt, "o-key", { models: ["gpt-image-2"], priority: 5 });
    const ids = (await admin(g(), "GET", "/admin/channels")).json<{ data: ChannelView[] }>();
    expect(ids.data.map((c) => c.id)).not.toContain(defaultChannelId);
    expect((await g().app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);

    // nano-banana is gemini-3.1-flash-image-preview upstream: the higher
    // priority of the gpt-image-2 channel does not matter.
    await generate(g().client, "p", "nano-banana");
    await generate(g().client, "p", "gpt-image-2");
    expect(gemini.submits.map((s) => s.model)).toEqual(["gemini-3.1-flash-image-preview"]);
    expect(gpt.submits.map((s) => s.model)).toEqual(["gpt-image-2"]);
    const none = await apiError(generate(g().client, "p", "grok-imagine-image"));
    expect(none.status).toBe(503);
    expect(none.code).toBe("no_upstream_channel");
    expect(gemini.submits.length + gpt.submits.length).toBe(2);

    gemini.inject({ route: "submit", ...newApiError(500, "", "internal error"), times: 5 });
    for (let i = 0; i < 5; i++) await apiError(generate(g().client));
    expect((await channel(g(), geminiView.id)).health.circuit).toBe("open");
    const ready = await g().app.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({
      status: "unavailable",
      models_without_channel: ["gemini-3.1-flash-image-preview"],
    });
    const blocked = await apiError(generate(g().client));
    expect(blocked.status).toBe(503);
    expect(blocked.code).toBe("upstream_unavailable");
    // The other model's channel is untouched.
    expect((await generate(g().client, "p", "gpt-image-2")).data).toHaveLength(1);
    expect(gpt.submits).toHaveLength(2);
  });

  it("skips a channel at its max_concurrent and a disabled one", async () => {
    gw = await buildTestApp();
    const limited = await sims.start(["a-key"]);
    const view = await channelOn(limited, "a-key", { priority: 2, max_concurrent: 1 });

    const long = generate(g().client, "p [sim:duration=1000]");
    await limited.waitForSubmits(1);
    expect((await channel(g(), view.id)).health.in_flight).toBe(1);
    // The limited channel is full: the next request goes to the default channel.
    expect((await generate(g().client)).data).toHaveLength(1);
    expect(g().sim.submits).toHaveLength(1);
    expect(limited.submits).toHaveLength(1);

    expect((await long).data).toHaveLength(1);
    await until(
      async () => (await channel(g(), view.id)).health.in_flight === 0,
      "the limited channel's slot to be released",
    );
    await generate(g().client);
    expect(limited.submits).toHaveLength(2);

    const disabled = await admin(g(), "PATCH", `/admin/channels/${view.id}`, { enabled: false });
    expect(disabled.statusCode).toBe(200);
    expect(disabled.json<ChannelView>().enabled).toBe(false);
    await generate(g().client);
    expect(limited.submits).toHaveLength(2);
    expect(g().sim.submits).toHaveLength(2);
  });
});

describe("every channel full", () => {
  it("when each channel for the model is at its max_concurrent: 503 upstream_busy, nothing submitted", async () => {
    gw = await buildTestApp(withoutDefaultChannel);
    const sim = await sims.start(["a-key"]);
    await channelOn(sim, "a-key", { max_concurrent: 1 });
    const long = generate(g().client, "p [sim:duration=1000]");
    await sim.waitForSubmits(1);
    const busy = await apiError(generate(g().client));
    expect(busy.status).toBe(503);
    expect(busy.code).toBe("upstream_busy");
    expect(submitAttempts(sim)).toBe(1);
    expect((await long).data).toHaveLength(1);
  });
});

describe("a tenant's private channel", () => {
  it("carries the tenant's own key to IMAGEGATE_UPSTREAM_URL and never falls back to the operator's channels", async () => {
    gw = await buildTestApp({ sim: { keys: ["sim-key", "tenant-own-key"] } });
    const operators = await sims.start(["op-key"]);
    await channelOn(operators, "op-key", { priority: 5 });
    const own = await g().createTenant({ name: "brings-a-key", upstream_key: "tenant-own-key" });
    const ownClient = g().clientWith(own.apiKey);

    expect((await generate(ownClient, "p [sim:duration=100]")).data).toHaveLength(1);
    expect(g().sim.submits.map((s) => s.key)).toEqual(["tenant-own-key"]);
    // Its reads and downloads use the same key and the same upstream.
    expect(readsAndDownloads(g().sim).length).toBeGreaterThanOrEqual(2);
    expect(g().sim.requests.every((r) => r.key === "tenant-own-key")).toBe(true);
    expect(operators.requests).toHaveLength(0);

    // The operator's tenant goes to the operator's channels meanwhile.
    await generate(g().client);
    expect(operators.submits.map((s) => s.key)).toEqual(["op-key"]);

    // Refused for its credential: no failover to the operator's accounts.
    const revoked = await g().createTenant({ name: "revoked", upstream_key: "revoked-key" });
    const refused = await apiError(generate(g().clientWith(revoked.apiKey)));
    expect(refused.status).toBe(502);
    expect(refused.code).toBe("upstream_authentication_failed");
    // Throttled: retried on its own channel only, then the caller's 429.
    g().sim.inject({ route: "submit", ...newApiError(429, "", "too many requests"), times: 10 });
    const throttled = await apiError(generate(ownClient));
    expect(throttled.status).toBe(429);

    expect(operators.submits).toHaveLength(1);
    expect(submitAttempts(operators)).toBe(1);
    const privateAttempts = g().sim.requests.filter((r) => r.route === "submit");
    expect(privateAttempts.every((r) => r.key !== "sim-key")).toBe(true);
    expect(privateAttempts.filter((r) => r.key === "revoked-key")).toHaveLength(1);
    // Private channels are not the operator's to list.
    const list = (await admin(g(), "GET", "/admin/channels")).json<{ data: ChannelView[] }>();
    expect(list.data.map((c) => c.id)).not.toContain(privateChannelId(own.id));
  });
});

describe("a task stays on the channel that accepted it", () => {
  it("reads and downloads go to the accepting channel, even after it was disabled", async () => {
    gw = await buildTestApp();
    const first = await sims.start(["a-key"]);
    const second = await sims.start(["b-key"]);
    const firstView = await channelOn(first, "a-key", { priority: 2 });
    await channelOn(second, "b-key", { priority: 1 });
    // The first submit is throttled by the first channel and taken by the second.
    first.inject({ route: "submit", ...newApiError(429, "", "too many requests") });
    const onSecond = generate(g().client, "p one [sim:duration=300]");
    await second.waitForSubmits(1);
    const onFirst = generate(g().client, "p two [sim:duration=300]");
    await first.waitForSubmits(1);
    // Disabled while its task runs: new tasks avoid it, its task is still read there.
    expect(
      (await admin(g(), "PATCH", `/admin/channels/${firstView.id}`, { enabled: false })).statusCode,
    ).toBe(200);
    const [a, b] = await Promise.all([onFirst, onSecond]);
    expect(a.data).toHaveLength(1);
    expect(b.data).toHaveLength(1);

    for (const sim of [first, second]) {
      const [task] = sim.submits;
      const reads = sim.requests.filter((r) => r.route === "read");
      const downloads = sim.requests.filter((r) => r.route === "download");
      expect(sim.submits).toHaveLength(1);
      expect(reads.length).toBeGreaterThanOrEqual(1);
      expect(downloads).toHaveLength(1);
      expect(
        [...reads, ...downloads].every((r) => r.taskId === task?.taskId && r.status === 200),
      ).toBe(true);
    }
    expect(first.requests.every((r) => r.key === "a-key")).toBe(true);
    expect(second.requests.every((r) => r.key === "b-key")).toBe(true);
    expect(g().sim.requests).toHaveLength(0);
  });

  it("after a restart, each task is resumed on the channel recorded for it", async () => {
    gw = await buildTestApp({ sim: { keys: ["sim-key", "tenant-own-key"] } });
    const accepting = await sims.start(["a-key"]);
    await channelOn(accepting, "a-key", { priority: 2 });
    const own = await g().createTenant({ name: "brings-a-key", upstream_key: "tenant-own-key" });
    const api = (key: string, path: string, body?: unknown) =>
      fetch(`${g().url}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const submit = async (key: string) => {
      const submitted = await api(key, "/v1/images/generations/async", {
        model: "nano-banana",
        prompt: "p [sim:duration=800]",
      });
      expect(submitted.status).toBe(200);
      return ((await submitted.json()) as { task_id: string }).task_id;
    };
    const shared = { key: g().apiKey, id: await submit(g().apiKey) };
    const mine = { key: own.apiKey, id: await submit(own.apiKey) };
    expect(accepting.submits).toHaveLength(1);
    expect(g().sim.submits.map((s) => s.key)).toEqual(["tenant-own-key"]);

    await g().app.close();
    const stoppedAt = Date.now();
    await g().restart();
    for (const { key, id } of [shared, mine]) {
      type Task = { data: { status: string } };
      let task: Task | undefined;
      await until(
        async () => {
          task = (await (await api(key, `/v1/images/tasks/${id}`)).json()) as Task;
          return task.data.status === "SUCCESS" || task.data.status === "FAILURE";
        },
        "the resumed task to end",
        10_000,
      );
      expect(task?.data.status).toBe("SUCCESS");
      expect((await api(key, `/v1/images/tasks/${id}/content`)).status).toBe(200);
    }
    // Collected by the restarted gateway, each from the channel that accepted it.
    for (const [sim, key] of [
      [accepting, "a-key"],
      [g().sim, "tenant-own-key"],
    ] as const) {
      const after = sim.requests.filter((r) => r.at >= stoppedAt);
      expect(after.filter((r) => r.route === "download")).toHaveLength(1);
      expect(after.every((r) => r.route !== "submit" && r.key === key && r.status === 200)).toBe(
        true,
      );
      expect(sim.submits).toHaveLength(1);
    }
    expect(g().sim.requests.every((r) => r.key === "tenant-own-key")).toBe(true);
  });
});

describe("usage and deletion", () => {
  it("GET /admin/channels/:id/usage counts submits, images and failures per day", async () => {
    gw = await buildTestApp();
    const sim = await sims.start(["a-key"]);
    const view = await channelOn(sim, "a-key", { priority: 2 });
    await g().client.images.generate({ model: "nano-banana", prompt: "p", n: 2 });
    await generate(g().client);
    const failed = await apiError(generate(g().client, "p [sim:fail=upstream exploded]"));
    expect(failed.code).toBe("upstream_task_failed");

    const expected = {
      object: "channel_usage",
      channel_id: view.id,
      data: [{ day: utcDay(Date.now()), submits: 3, images: 3, failures: 1 }],
      totals: { submits: 3, images: 3, failures: 1 },
    };
    // The last outcome is recorded just after its answer: wait for it (on a
    // timeout the assertion below shows the difference).
    let usage: unknown;
    await until(async () => {
      usage = (await admin(g(), "GET", `/admin/channels/${view.id}/usage`)).json();
      return JSON.stringify((usage as typeof expected).totals) === JSON.stringify(expected.totals);
    }, "the channel's usage to count every outcome").catch(() => undefined);
    expect(usage).toMatchObject(expected);
    const other = (await admin(g(), "GET", `/admin/channels/${defaultChannelId}/usage`)).json();
    expect(other).toMatchObject({ channel_id: defaultChannelId, totals: { submits: 0 } });
    expect((await admin(g(), "GET", "/admin/channels/ch_nope/usage")).statusCode).toBe(404);
  });

  it("DELETE of a channel with a task in flight is 409 channel_in_use; once it ended, it goes", async () => {
    gw = await buildTestApp();
    const sim = await sims.start(["a-key"]);
    const view = await channelOn(sim, "a-key", { priority: 2 });
    const running = generate(g().client, "p [sim:duration=1000]");
    await sim.waitForSubmits(1);

    const refused = await admin(g(), "DELETE", `/admin/channels/${view.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe("channel_in_use");
    expect((await running).data).toHaveLength(1);
    await until(
      async () => (await channel(g(), view.id)).health.in_flight === 0,
      "the task slot to be released",
    );
    const deleted = await admin(g(), "DELETE", `/admin/channels/${view.id}`);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ id: view.id, object: "channel", deleted: true });
    expect((await admin(g(), "GET", `/admin/channels/${view.id}`)).statusCode).toBe(404);
    await generate(g().client);
    expect(sim.submits).toHaveLength(1);
    expect(g().sim.submits).toHaveLength(1);
  });
});

describe("the admin API", () => {
  it("creates with exactly the documented body, strictly; defaults; never shows the key", async () => {
    gw = await buildTestApp();
    const sim = await sims.start(["first-secret-key-4f9a", "second-secret-key-77c1"]);
    const secrets = ["first-secret-key-4f9a", "second-secret-key-77c1"];
    const bodies: string[] = [];
    const call = async (...args: Parameters<typeof admin>) => {
      const response = await admin(...args);
      bodies.push(response.body);
      return response;
    };

    const full = await call(g(), "POST", "/admin/channels", {
      name: "primary",
      provider: "async",
      base_url: `${sim.url}/`,
      api_key: secrets[0],
      models: ["gemini-3.1-flash-image-preview"],
      priority: 3,
      weight: 2,
      max_concurrent: 10,
      enabled: true,
    });
    expect(full.statusCode).toBe(201);
    const created = full.json<ChannelView>();
    expect(created).toMatchObject({
      object: "channel",
      name: "primary",
      provider: "async",
      base_url: sim.url,
      models: ["gemini-3.1-flash-image-preview"],
      priority: 3,
      weight: 2,
      max_concurrent: 10,
      enabled: true,
      source: "admin",
      health: { circuit: "closed", in_flight: 0, credential_refused: null },
    });
    expect(created.id).toMatch(/^ch_/);
    expect(created).not.toHaveProperty("api_key");

    const minimal = await call(g(), "POST", "/admin/channels", {
      name: "spare",
      base_url: sim.url,
      api_key: secrets[1],
    });
    expect(minimal.statusCode).toBe(201);
    expect(minimal.json()).toMatchObject({
      provider: "async",
      models: [],
      priority: 0,
      weight: 1,
      max_concurrent: null,
      enabled: true,
    });
    const spare = minimal.json<ChannelView>();

    for (const bad of [
      { name: "x", base_url: sim.url, api_key: "k", region: "eu" },
      { name: "x", base_url: sim.url, apiKey: "k" },
      { name: "x", base_url: sim.url },
      { name: "x", base_url: sim.url, api_key: "k", models: ["not-a-model"] },
      { name: "x", base_url: "ftp://example.com", api_key: "k" },
      { name: "x", base_url: sim.url, api_key: "k", provider: "sync-nope" },
    ]) {
      const refused = await call(g(), "POST", "/admin/channels", bad);
      expect(refused.statusCode, JSON.stringify(bad)).toBe(400);
    }
    const taken = await call(g(), "POST", "/admin/channels", {
      name: "primary",
      base_url: sim.url,
      api_key: "k",
    });
    expect(taken.statusCode).toBe(409);

    const list = await call(g(), "GET", "/admin/channels");
    expect(list.statusCode).toBe(200);
    const listed = list.json<{ object: string; data: ChannelView[] }>();
    expect(listed.object).toBe("list");
    expect(listed.data.map((c) => [c.id, c.source])).toEqual([
      [defaultChannelId, "environment"],
      [created.id, "admin"],
      [spare.id, "admin"],
    ]);
    expect((await call(g(), "GET", `/admin/channels/${created.id}`)).statusCode).toBe(200);
    expect((await call(g(), "GET", "/admin/channels/ch_nope")).statusCode).toBe(404);

    const patched = await call(g(), "PATCH", `/admin/channels/${spare.id}`, {
      weight: 5,
      api_key: "third-secret-key-0be2",
    });
    secrets.push("third-secret-key-0be2");
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: spare.id, weight: 5, priority: 0 });
    expect(
      (await call(g(), "PATCH", `/admin/channels/${spare.id}`, { wieght: 5 })).statusCode,
    ).toBe(400);
    expect((await call(g(), "PATCH", `/admin/channels/${spare.id}`, {})).statusCode).toBe(400);

    for (const method of ["PATCH", "DELETE"] as const) {
      const env = await call(
        g(),
        method,
        `/admin/channels/${defaultChannelId}`,
        method === "PATCH" ? { weight: 2 } : undefined,
      );
      expect(env.statusCode).toBe(409);
      expect(env.json().error.code).toBe("channel_from_environment");
    }
    expect((await call(g(), "GET", `/admin/channels/${created.id}/usage`)).statusCode).toBe(200);
    const removed = await call(g(), "DELETE", `/admin/channels/${created.id}`);
    expect(removed.statusCode).toBe(200);

    const unauthorised = await g().app.inject({ method: "GET", url: "/admin/channels" });
    expect(unauthorised.statusCode).toBe(401);
    for (const body of bodies) {
      for (const secret of secrets) expect(body).not.toContain(secret);
    }
    expect(bodies.length).toBeGreaterThan(15);
  });

  it("a changed api_key is what the channel submits with next", async () => {
    gw = await buildTestApp();
    const sim = await sims.start(["old-key", "new-key"]);
    const view = await channelOn(sim, "old-key", { priority: 2 });
    await generate(g().client);
    const patched = await admin(g(), "PATCH", `/admin/channels/${view.id}`, { api_key: "new-key" });
    expect(patched.statusCode).toBe(200);
    await generate(g().client);
    expect(sim.submits.map((s) => s.key)).toEqual(["old-key", "new-key"]);
  });
});
