// stream: true when the client leaves half-way: the gateway lets go of the
// stored image it was streaming (no file left open, no keep-alive timer).
import { readdir, readlink } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
// Closing waits for the large image's download and storage to settle: on a
// busy 2-core machine that has taken over 20 s.
afterEach(async () => {
  await gw?.close();
  gw = undefined;
}, 90_000);

/** Files of this process open under `dir` (Linux: /proc/self/fd). */
async function openFilesUnder(dir: string): Promise<string[]> {
  const targets = await Promise.all(
    (await readdir("/proc/self/fd")).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")),
  );
  return targets.filter((target) => target.startsWith(dir));
}

describe.runIf(process.platform === "linux")("server-sent events", () => {
  it("a client that stops reading and leaves closes the stored image being streamed (regression)", async () => {
    // Large enough to be streamed from disk and to fill every buffer on the way.
    // A response still streaming at close (a failed run) is cut after a second, not twenty.
    gw = await buildTestApp({
      sim: { imageBytes: 16 * 1024 * 1024 },
      env: { IMAGEGATE_DRAIN_TIMEOUT_MS: "1000" },
    });
    const images = `${gw.config.dataDir}/images`;
    let response: ServerResponse | undefined;
    gw.app.server.on("request", (_req, res: ServerResponse) => {
      response = res;
    });
    const abort = new AbortController();
    const answer = await fetch(`${gw.url}/v1/images/generations`, {
      method: "POST",
      signal: abort.signal,
      headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-banana", prompt: "big", stream: true }),
    });
    const reader = answer.body?.getReader();
    let received = 0;
    while (received < 300_000) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      received += chunk.value.length;
    }
    expect(received).toBeGreaterThanOrEqual(300_000);
    // The client stops reading: wait until the gateway is held up by it.
    await vi.waitFor(() => expect(response?.writableNeedDrain).toBe(true), {
      timeout: 10_000,
      interval: 20,
    });
    expect(await openFilesUnder(images)).toHaveLength(1);
    abort.abort();
    await vi.waitFor(async () => expect(await openFilesUnder(images)).toEqual([]), {
      timeout: 5_000,
      interval: 50,
    });
  });
});
