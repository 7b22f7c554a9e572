// Closing the gateway with keep-alive clients connected.
import { Agent, request } from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { closeGracefully } from "../../src/shutdown.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
const agent = new Agent({ keepAlive: true });
afterEach(async () => {
  agent.destroy();
  await gw?.close();
  gw = undefined;
});

function post(
  url: string,
  apiKey: string,
  body: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("shutdown", () => {
  it("finishes an in-flight request, then closes without waiting for the client's keep-alive", async () => {
    gw = await buildTestApp();
    const inFlight = post(`${gw.url}/v1/images/generations`, gw.apiKey, {
      model: "nano-banana",
      prompt: "[sim:duration=300] a banana",
    });
    await gw.sim.waitForSubmits(1);
    // The keep-alive agent would hold its idle socket open indefinitely: close()
    // resolves only if the gateway ends the connection once the response is out.
    const closed = gw.app.close();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).data).toHaveLength(1);
    await closed;
  });

  it("cuts what is still running at the drain timeout; the next start resumes it", async () => {
    gw = await buildTestApp();
    const gateway = gw;
    const cut = post(`${gateway.url}/v1/images/generations`, gateway.apiKey, {
      model: "nano-banana",
      prompt: "[sim:duration=800] a banana",
    }).then(
      () => "answered",
      (err: NodeJS.ErrnoException) => err.code ?? "error",
    );
    await gateway.sim.waitForSubmits(1);
    await closeGracefully(gateway.app, 100);
    expect(await cut).toMatch(/ECONNRESET|socket hang up/i);

    const stoppedAt = Date.now();
    await gateway.restart();
    await vi.waitFor(
      async () => {
        const usage = await gateway.app.inject({
          method: "GET",
          url: `/admin/tenants/${gateway.tenantId}/usage`,
          headers: { authorization: `Bearer ${adminToken}` },
        });
        expect(usage.json().totals).toMatchObject({ succeeded: 1, upstream_tasks: 1 });
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(gateway.sim.submits).toHaveLength(1);
    // The result was fetched after the restart: the task was cut while running.
    const downloads = gateway.sim.requests.filter((r) => r.route === "download");
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((r) => r.at >= stoppedAt)).toBe(true);
  });
});
