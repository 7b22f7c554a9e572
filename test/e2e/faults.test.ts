// The upstream fault matrix: each fault classified, with what the caller sees
// and how many submits the upstream received (a submit is a charge).
import { afterEach, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { shiftableClock } from "../helpers/clock.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const submitAttempts = () => gw.sim.requests.filter((r) => r.route === "submit").length;

describe("upstream faults", () => {
  // A machine without a reachable DNS server answers a lookup only when it
  // times out (up to undici's 10 s connect timeout per attempt): a generous limit.
  it("DNS failure before anything is sent: retried, then 503, nothing submitted", {
    timeout: 60_000,
  }, async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_UPSTREAM_URL: "http://upstream.invalid" } });
    const err = await apiError(gw.client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(err.status).toBe(503);
    expect(err.code).toBe("upstream_unreachable");
    expect(err.headers?.get("retry-after")).toMatch(/^\d+$/);
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("a submit answered 200 with a body that is not the expected JSON is ambiguous: 502, never resent", async () => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "submit", status: 200, rawBody: "<html>ok</html>", passThrough: true });
    const client = gw.clientWith(gw.apiKey, { maxRetries: 2 });
    const err = await apiError(client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_submit_unconfirmed");
    expect(err.headers?.get("x-should-retry")).toBe("false");
    expect(submitAttempts()).toBe(1);
  });

  it("a 5xx on submit is ambiguous: 502, never resent", async () => {
    gw = await buildTestApp();
    gw.sim.inject({
      route: "submit",
      status: 502,
      body: { error: { message: "bad gateway", type: "new_api_error", code: "" } },
    });
    const err = await apiError(gw.client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(err.status).toBe(502);
    expect(err.headers?.get("x-should-retry")).toBe("false");
    expect(submitAttempts()).toBe(1);
  });

  it("reads answered with a body that is not JSON are transient: backed off, then the result", async () => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "read", status: 200, rawBody: "not json", times: 2 });
    const result = await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(result.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("transient 5xx on a download is retried, then the result", async () => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "download", status: 503, rawBody: "busy" });
    const result = await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(result.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("an upstream that keeps failing opens the circuit: 503 at once, nothing sent; a probe closes it", async () => {
    const clock = shiftableClock();
    gw = await buildTestApp({ deps: { clock } });
    const failing = { error: { message: "internal error", type: "new_api_error", code: "" } };
    gw.sim.inject({ route: "submit", status: 500, body: failing, times: 5 });
    for (let i = 0; i < 5; i++) {
      const err = await apiError(gw.client.images.generate({ model: "nano-banana", prompt: "p" }));
      expect(err.status).toBe(502);
    }
    const open = await apiError(gw.client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(open.status).toBe(503);
    expect(open.code).toBe("upstream_unavailable");
    expect(Number(open.headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(submitAttempts()).toBe(5);

    clock.shift(10_000);
    const probe = await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(probe.data).toHaveLength(1);
    await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(submitAttempts()).toBe(7);
    expect(gw.sim.submits).toHaveLength(2);
  });
});
