// GET /metrics: Prometheus's text format, for the admin token or the metrics
// token only, with counters that move with traffic and gauges of the moment
// (requests held, tasks in flight, open circuits), beside the process's own.
import { afterEach, describe, expect, it, vi } from "vitest";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

const metricsToken = "scrape-token-0123456789abcdef";

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function scrape(gateway: TestGateway, token = adminToken) {
  const response = await fetch(`${gateway.url}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text: await response.text(),
  };
}

/** The value of one series (name with its labels, as exposed), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((each) => each.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const generationsRoute = 'route="/v1/images/generations"';

describe("GET /metrics", { timeout: 30_000 }, () => {
  it("answers only the admin token or the metrics token", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_METRICS_TOKEN: metricsToken } });
    const anonymous = await fetch(`${gw.url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe(
      "invalid_api_key",
    );
    expect((await scrape(gw, gw.apiKey)).status).toBe(401);
    expect((await scrape(gw, "scrape-token-0123456789abcdeX")).status).toBe(401);
    const withMetricsToken = await scrape(gw, metricsToken);
    expect(withMetricsToken.status).toBe(200);
    expect(withMetricsToken.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await scrape(gw)).status).toBe(200);
  });

  it("counts requests and bytes, and shows what is held and in flight while it is", async () => {
    gw = await buildTestApp();
    const before = await scrape(gw);
    expect(
      value(before.text, `imagegate_http_requests_total{${generationsRoute},status="200"}`),
    ).toBe(undefined);
    expect(value(before.text, "imagegate_tasks_in_flight")).toBe(0);
    expect(value(before.text, 'imagegate_circuit_open{channel="ch_default"}')).toBe(0);
    // The process's own figures are there too.
    expect(before.text).toMatch(/^imagegate_process_cpu_user_seconds_total \d/m);

    const slow = gw.client.images.generate({
      model: "nano-banana",
      prompt: "held a while [sim:duration=1500]",
    });
    await gw.sim.waitForSubmits(1);
    const during = await scrape(gw);
    expect(value(during.text, "imagegate_held_requests")).toBe(1);
    expect(value(during.text, "imagegate_tasks_in_flight")).toBe(1);
    await slow;
    await gw.client.images.generate({ model: "nano-banana", prompt: "and another" });
    await expect(
      gw.client.images.generate({ model: "no-such-model", prompt: "refused" }),
    ).rejects.toMatchObject({ status: 404 });

    const after = await scrape(gw);
    expect(
      value(after.text, `imagegate_http_requests_total{${generationsRoute},status="200"}`),
    ).toBe(2);
    expect(
      value(after.text, `imagegate_http_requests_total{${generationsRoute},status="404"}`),
    ).toBe(1);
    expect(
      value(after.text, `imagegate_http_request_duration_seconds_count{${generationsRoute}}`),
    ).toBe(3);
    // The slow one took its 1.5 s: it is in no bucket below 1 s.
    expect(
      value(
        after.text,
        `imagegate_http_request_duration_seconds_bucket{le="1",${generationsRoute}}`,
      ),
    ).toBeLessThan(3);
    expect(value(after.text, "imagegate_held_requests")).toBe(0);
    expect(value(after.text, "imagegate_tasks_in_flight")).toBe(0);
    const sent = value(after.text, "imagegate_bytes_sent_total") ?? 0;
    expect(sent).toBeGreaterThan((value(before.text, "imagegate_bytes_sent_total") ?? 0) + 2 * 100);
    // The generations, their submits and reads, as the upstream saw them.
    const model = gw.sim.submits[0]?.model ?? "";
    expect(
      value(after.text, `imagegate_generations_total{model="${model}",outcome="succeeded"}`),
    ).toBe(2);
    expect(value(after.text, `imagegate_generation_duration_seconds_count{model="${model}"}`)).toBe(
      2,
    );
    expect(
      value(
        after.text,
        `imagegate_upstream_submits_total{channel="ch_default",model="${model}",outcome="accepted"}`,
      ),
    ).toBe(2);
    expect(
      value(after.text, 'imagegate_upstream_reads_total{channel="ch_default",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(2);
    // No tenant label unless the operator asks for it.
    expect(after.text).not.toContain("tenant=");
  });

  it("times each result's lag and counts the images answered, by response_format", async () => {
    gw = await buildTestApp();
    const model = "gemini-3.1-flash-image-preview";
    const lag = `imagegate_result_lag_seconds_count{model="${model}"}`;
    const delivered = (format: string) =>
      `imagegate_images_delivered_total{model="${model}",format="${format}"}`;
    const before = await scrape(gw);
    expect(value(before.text, lag)).toBe(undefined);

    // Seen unfinished, then finished: the lag is measured from between those reads.
    await gw.client.images.generate({
      model: "nano-banana",
      prompt: "as base64 [sim:duration=300] [sim:images=2]",
      n: 2,
      response_format: "b64_json",
    });
    const afterBase64 = await scrape(gw);
    expect(value(afterBase64.text, lag)).toBe(1);
    expect(value(afterBase64.text, delivered("b64_json"))).toBe(2);
    expect(value(afterBase64.text, delivered("url"))).toBe(undefined);
    // An estimate, but of the gateway's own delay: well under a second here.
    expect(
      value(afterBase64.text, `imagegate_result_lag_seconds_sum{model="${model}"}`),
    ).toBeLessThan(1);

    await gw.client.images.generate({
      model: "nano-banana",
      prompt: "as a link",
      response_format: "url",
    });
    const afterUrl = await scrape(gw);
    expect(value(afterUrl.text, lag)).toBe(2);
    expect(value(afterUrl.text, delivered("b64_json"))).toBe(2);
    expect(value(afterUrl.text, delivered("url"))).toBe(1);

    // The async API's answer is the stored task, read through URLs: counted once it is stored.
    const submitted = await fetch(`${gw.url}/v1/images/generations/async`, {
      method: "POST",
      headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-banana", prompt: "for later [sim:duration=200]" }),
    });
    expect(submitted.status).toBe(200);
    await vi.waitFor(
      async () => {
        const { text } = await scrape(gw as TestGateway);
        expect(value(text, lag)).toBe(3);
        expect(value(text, delivered("url"))).toBe(2);
      },
      { timeout: 10_000, interval: 50 },
    );
    // Its reads count nothing more.
    const { id } = (await submitted.json()) as { id: string };
    const task = await fetch(`${gw.url}/v1/images/tasks/${id}`, {
      headers: { authorization: `Bearer ${gw.apiKey}` },
    });
    expect(((await task.json()) as { data: { status: string } }).data.status).toBe("SUCCESS");
    expect(value((await scrape(gw)).text, delivered("url"))).toBe(2);
    // The record keeps the estimate: after the submit, before the outcome was written.
    const record = await gw.app.store.ledger.get(id);
    expect(record?.readyAt).toBeGreaterThanOrEqual(record?.createdAt ?? Number.NaN);
    expect(record?.readyAt).toBeLessThanOrEqual(record?.finishedAt ?? Number.NaN);
  });

  it("counts a generation's images once, when a caller received them: not for a replay, nor for a caller that left", async () => {
    gw = await buildTestApp();
    const model = "gemini-3.1-flash-image-preview";
    const lag = `imagegate_result_lag_seconds_count{model="${model}"}`;
    const delivered = `imagegate_images_delivered_total{model="${model}",format="b64_json"}`;

    // The same Idempotency-Key twice: the second answer replays the first generation.
    const options = { headers: { "idempotency-key": "once-only-0001" } };
    const request = { model: "nano-banana", prompt: "keyed", response_format: "b64_json" } as const;
    const first = await gw.client.images.generate(request, options);
    const replay = await gw.client.images.generate(request, options);
    expect(replay.data).toEqual(first.data);
    const afterReplay = await scrape(gw);
    expect(value(afterReplay.text, delivered)).toBe(1);
    expect(value(afterReplay.text, lag)).toBe(1);

    // A caller that leaves while its task runs receives nothing: nothing is counted.
    const abort = new AbortController();
    const left = gw
      .clientWith(gw.apiKey, { maxRetries: 0 })
      .images.generate(
        {
          model: "nano-banana",
          prompt: "abandoned [sim:duration=400]",
          response_format: "b64_json",
        },
        { signal: abort.signal },
      )
      .catch((err: unknown) => err);
    await vi.waitFor(
      async () =>
        expect(value((await scrape(gw as TestGateway)).text, "imagegate_tasks_in_flight")).toBe(1),
      { timeout: 10_000, interval: 20 },
    );
    abort.abort();
    await left;
    await vi.waitFor(
      async () => {
        const text = (await scrape(gw as TestGateway)).text;
        expect(
          value(text, `imagegate_generations_total{model="${model}",outcome="succeeded"}`),
        ).toBe(2);
      },
      { timeout: 10_000, interval: 20 },
    );
    const afterAbandoned = await scrape(gw);
    expect(value(afterAbandoned.text, delivered)).toBe(1);
    expect(value(afterAbandoned.text, lag)).toBe(1);
  });

  it("labels by tenant when IMAGEGATE_METRICS_TENANT_LABELS is on", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_METRICS_TENANT_LABELS: "true" } });
    await gw.client.images.generate({ model: "nano-banana", prompt: "counted for its tenant" });
    const { text } = await scrape(gw);
    expect(
      value(
        text,
        `imagegate_http_requests_total{${generationsRoute},status="200",tenant="${gw.tenantId}"}`,
      ),
    ).toBe(1);
  });
});
