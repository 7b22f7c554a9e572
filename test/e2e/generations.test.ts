// End to end: the official OpenAI SDK → a real gateway → the upstream simulator.
import type OpenAI from "openai";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { defaultTuning } from "../../src/upstream/schedule.js";
import { shiftableClock } from "../helpers/clock.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const b64 = (data: OpenAI.Images.ImagesResponse) =>
  (data.data ?? []).map((image) => Buffer.from(image.b64_json ?? "", "base64"));

describe("POST /v1/images/generations with the OpenAI SDK", () => {
  it("returns b64_json bytes equal to the upstream image (dall-e-3)", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "dall-e-3",
      prompt: "a banana",
      response_format: "b64_json",
    });
    expect(result.created).toBeGreaterThan(1_700_000_000);
    const [submit] = gw.sim.submits;
    expect(submit?.model).toBe("grok-imagine-image-pro");
    const images = b64(result);
    expect(images).toHaveLength(1);
    // The upstream's image, made the size dall-e-3 asks by default.
    expect(await sharp(images[0]).metadata()).toMatchObject({
      format: "png",
      width: 1024,
      height: 1024,
    });
    expect(result.output_format).toBe("png");
  });

  it("defaults to a re-hosted URL for DALL·E names, fetchable without a key", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({ model: "dall-e-2", prompt: "a banana" });
    const url = result.data?.[0]?.url ?? "";
    expect(url.startsWith(`${gw.url}/files/images/`)).toBe(true);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    const bytes = Buffer.from(await response.arrayBuffer());
    const taskId = gw.sim.submits[0]?.taskId ?? "";
    // dall-e-2's default size, 1024x1024 (the simulator renders 8x8).
    expect(await sharp(bytes).metadata()).toMatchObject({ width: 1024, height: 1024 });
    // The upstream's own URL or task id never reaches the caller.
    expect(JSON.stringify(result)).not.toContain(taskId);
  });

  it("defaults to b64_json for non-DALL·E models", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({ model: "nano-banana", prompt: "a banana" });
    expect(result.data?.[0]?.b64_json).toBeTruthy();
    expect(result.data?.[0]?.url).toBeUndefined();
  });

  it("refuses a tampered or expired image URL", async () => {
    const clock = shiftableClock();
    gw = await buildTestApp({ deps: { clock } });
    const result = await gw.client.images.generate({ model: "dall-e-3", prompt: "a banana" });
    const url = new URL(result.data?.[0]?.url ?? "");

    const badSignature = new URL(url);
    badSignature.searchParams.set("signature", "A".repeat(43));
    expect((await fetch(badSignature)).status).toBe(403);

    const laterExpiry = new URL(url);
    laterExpiry.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 1));
    expect((await fetch(laterExpiry)).status).toBe(403);

    const otherFile = new URL(url);
    otherFile.pathname = otherFile.pathname.replace(/\/[^/]+$/, "/AAAAAAAAAAAAAAAAAAAAAA.png");
    expect((await fetch(otherFile)).status).toBe(403);

    expect((await fetch(url)).status).toBe(200);
    clock.shift(gw.config.urlTtlMs + 1_000);
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { error: { code: string } }).error.code).toBe("url_expired");
  });

  it("maps aliases and OpenAI sizes onto what each model takes", async () => {
    gw = await buildTestApp();
    await gw.client.images.generate({ model: "nano-banana", prompt: "p", size: "1792x1024" });
    await gw.client.images.generate({ model: "dall-e-3", prompt: "p", size: "1024x1792" });
    await gw.client.images.generate({
      model: "dall-e",
      prompt: "p",
      size: "512x512",
      quality: "hd",
    });
    const [gemini, grok, gpt] = gw.sim.submits;
    expect(gemini?.model).toBe("gemini-3.1-flash-image-preview");
    expect(gemini?.body.model).toBe("gemini-3.1-flash-image-preview");
    expect(gemini?.body.size).toBe("16:9");
    expect(gemini?.body.extra_body).toEqual({ google: { image_config: { aspect_ratio: "16:9" } } });
    expect(grok?.body).toMatchObject({ model: "grok-imagine-image-pro", size: "9:16" });
    expect(grok?.body.quality).toBeUndefined();
    expect(gpt?.body).toMatchObject({ model: "gpt-image-2", size: "1024x1024", quality: "high" });
  });

  it("returns n images, each its own upstream result", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({ model: "gpt-image-2", prompt: "p", n: 2 });
    const images = b64(result);
    const taskId = gw.sim.submits[0]?.taskId ?? "";
    expect(gw.sim.submits[0]?.n).toBe(2);
    expect(images).toHaveLength(2);
    expect(images[0]?.equals(gw.sim.image(taskId, 0).bytes)).toBe(true);
    expect(images[1]?.equals(gw.sim.image(taskId, 1).bytes)).toBe(true);
    expect(images[0]?.equals(images[1] as Buffer)).toBe(false);
  });

  it("answers with the images the upstream returned when it returns fewer than n", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "nano-banana-pro",
      prompt: "p [sim:images=1]",
      n: 3,
    });
    expect(result.data).toHaveLength(1);
  });

  it("waits for a task that takes a while, through the shared poller", async () => {
    // The production schedule: how many reads a 1.5 s task costs is its budget.
    gw = await buildTestApp({ deps: { scheduleTuning: defaultTuning } });
    const started = Date.now();
    const result = await gw.client.images.generate({
      model: "grok-imagine-image",
      prompt: "p [sim:duration=1500]",
    });
    expect(result.data).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    const reads = gw.sim.requests.filter((r) => r.route === "read").length;
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(reads).toBeLessThanOrEqual(6);
  });

  it("streams one image_generation.completed event per image when stream is true", async () => {
    gw = await buildTestApp();
    const stream = await gw.client.images.generate({
      model: "gpt-image-2",
      prompt: "p",
      n: 2,
      size: "1536x1024",
      stream: true,
    });
    const events: OpenAI.Images.ImageGenStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.type)).toEqual([
      "image_generation.completed",
      "image_generation.completed",
    ]);
    const images = events.map((event) => Buffer.from(event.b64_json, "base64"));
    // Each its own upstream result.
    expect(images[0]?.equals(images[1] as Buffer)).toBe(false);
    for (const [index, event] of events.entries()) {
      expect(await sharp(images[index]).metadata()).toMatchObject({ width: 1536, height: 1024 });
      // The size asked (conformed from the simulator's 8x8), and every field OpenAI's schema requires.
      expect(event).toMatchObject({
        size: "1536x1024",
        quality: "auto",
        background: "opaque",
        output_format: "png",
      });
    }
  });

  it("a failure while streaming reaches the SDK as an APIError", async () => {
    gw = await buildTestApp();
    const stream = await gw.client.images.generate({
      model: "gpt-image-2",
      prompt: "p [sim:fail=worker exploded]",
      stream: true,
    });
    const consume = async () => {
      for await (const _event of stream) {
        // drain
      }
    };
    await expect(consume()).rejects.toMatchObject({
      error: { code: "upstream_task_failed" },
    });
  });

  it("lists models and aliases in OpenAI's shape", async () => {
    gw = await buildTestApp();
    const ids: string[] = [];
    for await (const model of gw.client.models.list()) {
      expect(model.object).toBe("model");
      ids.push(model.id);
    }
    expect(ids).toEqual(
      expect.arrayContaining([
        "gpt-image-2",
        "gemini-3-pro-image-preview",
        "gemini-3.1-flash-image-preview",
        "grok-imagine-image",
        "grok-imagine-image-pro",
        "grok-imagine-image-lite",
        "grok-imagine-image-edit",
        "dall-e",
        "dall-e-2",
        "dall-e-3",
        "nano-banana",
        "nano-banana2",
        "nano-banana-2",
        "nano-banana-pro",
        "grok-imagine-image-quality",
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2-2026-04-21",
        "chatgpt-image-latest",
      ]),
    );
    expect(ids).toHaveLength(20);
    const one = await gw.client.models.retrieve("nano-banana");
    expect(one.id).toBe("nano-banana");
  });
});
