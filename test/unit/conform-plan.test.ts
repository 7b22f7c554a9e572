// Issue 11, "what you ask is what you get": which results are conformed (only
// for OpenAI names asking a concrete size or a format), and the bound on how
// many are conformed at once.
import { describe, expect, it } from "vitest";
import { conformPlan, type Echo } from "../../src/catalog/answer.js";
import { translateRequest } from "../../src/catalog/translate.js";
import { createSemaphore } from "../../src/generation/conform-results.js";

const planOf = (request: Record<string, unknown>) =>
  conformPlan(translateRequest({ prompt: "p", ...request }).echo);

describe("conformPlan", () => {
  it.each([
    [
      { model: "dall-e-2", size: "256x256" },
      { width: 256, height: 256 },
    ],
    [{ model: "dall-e-2" }, { width: 1024, height: 1024 }],
    [
      { model: "dall-e-3", size: "1792x1024" },
      { width: 1792, height: 1024 },
    ],
    [
      { model: "gpt-image-1", size: "1536x864" },
      { width: 1536, height: 864 },
    ],
    [{ model: "gpt-image-1", output_format: "webp" }, { format: "webp" }],
    [
      { model: "gpt-image-1", size: "1024x1024", output_format: "jpeg", output_compression: 50 },
      { width: 1024, height: 1024, format: "jpeg", compression: 50 },
    ],
    [
      { model: "gpt-image-1", size: "1024x1536", background: "opaque" },
      { width: 1024, height: 1536, background: "opaque" },
    ],
  ])("%j → %j", (request, plan) => {
    expect(planOf(request)).toEqual(plan);
  });

  it.each([
    { model: "gpt-image-2" },
    { model: "gpt-image-1", size: "auto" },
    { model: "gpt-image-1", size: "auto", background: "opaque" },
    { model: "nano-banana" },
    { model: "nano-banana", size: "1024x1024" },
    { model: "nano-banana", size: "16:9" },
    { model: "grok-imagine-image", size: "1024x1024" },
  ])("nothing for %j", (request) => {
    expect(planOf(request)).toBeUndefined();
  });

  it("ignores values outside OpenAI's vocabulary (records of older versions)", () => {
    const echo: Echo = { exact: true, size: "16:9", output_format: "gif", output_compression: 500 };
    expect(conformPlan(echo)).toBeUndefined();
    expect(conformPlan({ ...echo, size: "64x64" })).toEqual({ width: 64, height: 64 });
  });
});

describe("createSemaphore", () => {
  it("runs at most `limit` tasks at once and the rest in arrival order", async () => {
    const run = createSemaphore(2);
    const releases: Array<() => void> = [];
    const started: number[] = [];
    const task = (id: number) => () =>
      new Promise<number>((resolve) => {
        started.push(id);
        releases[id] = () => resolve(id);
      });
    const results = [1, 2, 3, 4].map((id) => run(task(id)));
    await Promise.resolve();
    expect(started).toEqual([1, 2]);
    releases[2]?.();
    await results[1];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([1, 2, 3]);
    releases[1]?.();
    releases[3]?.();
    await Promise.all(results.slice(0, 3));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([1, 2, 3, 4]);
    releases[4]?.();
    expect(await Promise.all(results)).toEqual([1, 2, 3, 4]);
  });

  it("frees the slot when a task fails", async () => {
    const run = createSemaphore(1);
    await expect(run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await run(() => Promise.resolve("next"))).toBe("next");
  });
});
