// The generation use case on its own (no HTTP): what it records, and that a
// record write that fails is tried again rather than losing a paid task.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { translateRequest } from "../../src/catalog/translate.js";
import { createChannelRegistry } from "../../src/channels/registry.js";
import { systemClock } from "../../src/clock.js";
import { createGenerationService, type GenerationRecorder } from "../../src/generation/generate.js";
import { type Simulator, startSimulator } from "../../src/simulator/server.js";
import { createLocalBlobStore } from "../../src/storage/blobs.js";
import { createPoller } from "../../src/upstream/poller.js";

let sim: Simulator | undefined;
let dir: string | undefined;
afterEach(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const silent = { info() {}, warn() {}, error() {} };

async function setup(recorder: GenerationRecorder, recordRetryDelaysMs?: number[]) {
  sim = await startSimulator({ keys: ["k"] });
  dir = await mkdtemp(join(tmpdir(), "imagegate-generate-"));
  const upstream = createChannelRegistry({
    store: undefined,
    clock: systemClock,
    upstreamUrl: sim.url,
    upstreamKey: "k",
  });
  const poller = createPoller({ clock: systemClock });
  const generation = createGenerationService({
    channels: upstream,
    poller,
    blobs: createLocalBlobStore(dir),
    clock: systemClock,
    log: silent,
    recorder,
    ...(recordRetryDelaysMs ? { recordRetryDelaysMs } : {}),
  });
  return { generation, upstream, poller };
}

describe("generation service", () => {
  it("records submitted, then finished with the stored results and the upstream task id", async () => {
    const events: Array<[string, unknown]> = [];
    const { generation, upstream } = await setup({
      submitted: (id, taskId, _channelId) => {
        events.push(["submitted", { id, taskId }]);
      },
      finished: (id, outcome) => events.push(["finished", { id, ...outcome }]),
    });
    const translation = translateRequest({ model: "nano-banana", prompt: "p", n: 2 });
    const running = generation.start({
      recordId: "gen_1",
      channels: upstream.shared(),
      translation,
    });
    const result = await running.done;
    expect(result.images).toHaveLength(2);
    await generation.settled();
    const taskId = sim?.submits[0]?.taskId;
    expect(events[0]).toEqual(["submitted", { id: "gen_1", taskId }]);
    expect(events[1]).toMatchObject([
      "finished",
      { id: "gen_1", state: "succeeded", images: 2, upstreamTaskId: taskId },
    ]);
    const finishedEvent = events[1]?.[1] as { results?: unknown[] } | undefined;
    expect(finishedEvent?.results).toHaveLength(2);
    expect(generation.running("gen_1")).toBeUndefined();
    await upstream.close();
  });

  it("a record write that fails is tried again, and the generation stays joinable until it lands (regression)", async () => {
    let failures = 0;
    const finished: unknown[] = [];
    const { generation, upstream } = await setup(
      {
        submitted: () => {},
        finished: (_id, outcome) => {
          if (failures++ === 0) throw new Error("SQLITE_BUSY: database is locked");
          finished.push(outcome);
        },
      },
      // The production waits (500 ms, ...) shortened; as many retries.
      [50, 200, 800],
    );
    const translation = translateRequest({ model: "nano-banana", prompt: "p" });
    const running = generation.start({
      recordId: "gen_2",
      channels: upstream.shared(),
      translation,
    });
    await running.done;
    // Still findable while its outcome is not written.
    expect(generation.running("gen_2")).toBeDefined();
    await vi.waitFor(() => expect(finished).toHaveLength(1), { timeout: 5_000, interval: 20 });
    await generation.settled();
    expect(generation.running("gen_2")).toBeUndefined();
    expect(failures).toBe(2);
    await upstream.close();
  });

  it("submits nothing when the reservation could not be written: a 503 to retry, the record refused", async () => {
    const outcomes: string[] = [];
    const { generation, upstream, poller } = await setup({
      reserved: () => Promise.reject(new Error("disk I/O error")),
      submitted: () => {},
      finished: (_id, outcome) => outcomes.push(outcome.state),
    });
    const translation = translateRequest({ model: "nano-banana", prompt: "p" });
    const running = generation.start({
      recordId: "gen_1",
      channels: upstream.shared(),
      translation,
    });
    await expect(running.submitted).rejects.toMatchObject({
      status: 503,
      code: "record_unavailable",
      retryable: true,
    });
    await expect(running.done).rejects.toMatchObject({ code: "record_unavailable" });
    await vi.waitFor(() => expect(outcomes).toEqual(["refused"]));
    expect(sim?.submits).toHaveLength(0);
    poller.close();
    await upstream.close();
  });
});
