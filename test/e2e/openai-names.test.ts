// Issue 11: every OpenAI image model name works — generations, edits,
// variations, streaming — with OpenAI's defaults and OpenAI's vocabulary in
// the answer, through the official SDK.
import { toFile } from "openai";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const picture = () =>
  sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 9, g: 9, b: 9 } } })
    .png()
    .toBuffer();

describe("generations", () => {
  it.each([
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2-2026-04-21",
    "chatgpt-image-latest",
  ])("%s generates on GPT Image 2, b64_json by default, listed and retrievable", async (model) => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({ model, prompt: "a banana" });
    expect(result.data?.[0]?.b64_json).toBeTruthy();
    expect(gw.sim.submits[0]?.body).toMatchObject({ model: "gpt-image-2", size: "auto" });
    expect(result).toMatchObject({ size: "8x8", output_format: "png", background: "opaque" });
    expect(result).not.toHaveProperty("quality");
    expect(result).not.toHaveProperty("usage");
    expect((await gw.client.models.retrieve(model)).owned_by).toBe("openai");
  });

  it("a free gpt-image-2 size is made at the nearest size the upstream makes", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "gpt-image-1",
      prompt: "p",
      size: "2560x1440" as never,
      quality: "high",
    });
    expect(gw.sim.submits[0]?.body).toMatchObject({ size: "2048x1152", quality: "high" });
    // The simulator renders 8x8: the gateway delivers the size asked.
    expect(result).toMatchObject({ size: "2560x1440", quality: "high" });
  });

  it("a size that breaks OpenAI's rules is a 400 on size saying what would work", async () => {
    gw = await buildTestApp();
    const error = await apiError(
      gw.client.images.generate({ model: "gpt-image-1", prompt: "p", size: "1920x1080" as never }),
    );
    expect(error).toMatchObject({ status: 400, param: "size" });
    expect(error.message).toContain("for gpt-image-1");
    expect(error.message).toContain("1920x1088");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("a DALL·E 3 size asked of dall-e-2 is a 400 naming dall-e-2 and its sizes", async () => {
    gw = await buildTestApp();
    const error = await apiError(
      gw.client.images.generate({ model: "dall-e-2", prompt: "p", size: "1792x1024" }),
    );
    expect(error).toMatchObject({ status: 400, param: "size" });
    expect(error.error).toMatchObject({
      message:
        "Invalid size '1792x1024' for dall-e-2. Supported sizes: 256x256, 512x512, 1024x1024.",
    });
  });

  it("dall-e-3 answers with a URL, WxH and revised_prompt, never the upstream's units", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "dall-e-3",
      prompt: "a red fox",
      size: "1792x1024",
      quality: "hd",
    });
    expect(gw.sim.submits[0]?.body).toMatchObject({
      model: "grok-imagine-image-pro",
      size: "16:9",
    });
    expect(result.data?.[0]).toMatchObject({
      url: expect.any(String),
      revised_prompt: "a red fox",
    });
    expect(result.size).toBe("1792x1024");
    expect(JSON.stringify(result)).not.toMatch(/16:9|"2K"|"hd"|"standard"/);
  });

  it("a Gemini answer says WxH, never a ratio or a resolution", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "nano-banana-pro",
      prompt: "p",
      size: "16:9" as never,
      quality: "2K" as never,
    });
    expect(gw.sim.submits[0]?.body).toMatchObject({ size: "16:9", quality: "2K" });
    expect(result).toMatchObject({ size: "8x8", output_format: "png" });
    expect(result).not.toHaveProperty("quality");
  });
});

describe("edits, variations and streaming", () => {
  it.each([
    ["gpt-image-1", "b64_json"],
    ["chatgpt-image-latest", "b64_json"],
    ["dall-e-2", "url"],
    [undefined, "url"],
  ])("an edit on %s answers %s by default", async (model, format) => {
    gw = await buildTestApp();
    const result = await gw.client.images.edit({
      ...(model === undefined ? {} : { model }),
      prompt: "make it night",
      image: await toFile(await picture(), "in.png", { type: "image/png" }),
    });
    expect(Object.keys(result.data?.[0] ?? {})).toEqual([format]);
    expect(gw.sim.submits[0]?.body.model).toBe("gpt-image-2");
    // dall-e-2 (the default name) asks 1024x1024 by default; the GPT image names auto.
    const size = model === undefined || model === "dall-e-2" ? "1024x1024" : "8x8";
    expect(result).toMatchObject({ size, output_format: "png" });
  });

  it.each([
    ["gpt-image-1.5", "b64_json"],
    [undefined, "url"],
  ])("a variation on %s answers %s by default", async (model, format) => {
    gw = await buildTestApp();
    const result = await gw.client.images.createVariation({
      ...(model === undefined ? {} : { model }),
      image: await toFile(await picture(), "in.png", { type: "image/png" }),
    });
    expect(Object.keys(result.data?.[0] ?? {})).toEqual([format]);
    expect(result.size).toBe(model === undefined ? "1024x1024" : "8x8");
  });

  it("a streamed edit on gpt-image-1 ends with image_edit.completed carrying every field", async () => {
    gw = await buildTestApp();
    const stream = await gw.client.images.edit({
      model: "gpt-image-1",
      prompt: "make it night",
      image: await toFile(await picture(), "in.png", { type: "image/png" }),
      quality: "low",
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    expect(events).toEqual([
      expect.objectContaining({
        type: "image_edit.completed",
        size: "8x8",
        quality: "low",
        background: "opaque",
        output_format: "png",
      }),
    ]);
  });

  it("a streamed generation on gpt-image-2-2026-04-21 carries every field", async () => {
    gw = await buildTestApp();
    const stream = await gw.client.images.generate({
      model: "gpt-image-2-2026-04-21",
      prompt: "p",
      background: "transparent",
      output_format: "webp",
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    expect(gw.sim.submits[0]?.body).toMatchObject({
      model: "gpt-image-2",
      background: "transparent",
      output_format: "webp",
    });
    // The simulator made an opaque PNG, conformed to the WebP asked; the
    // answer says what was delivered (transparency cannot be invented).
    expect(events).toEqual([
      expect.objectContaining({
        type: "image_generation.completed",
        size: "8x8",
        quality: "auto",
        background: "opaque",
        output_format: "webp",
      }),
    ]);
  });
});

describe("the upstream's errors in the caller's names (issue 11)", () => {
  it("a task failure and a refused submit name dall-e-2, never the upstream's gpt-image-2", async () => {
    gw = await buildTestApp();
    const failed = await apiError(
      gw.client.images.generate({
        model: "dall-e-2",
        prompt: "p [sim:fail=gpt-image-2 is overloaded]",
      }),
    );
    expect(failed.status).toBe(502);
    expect(failed.message).toContain("dall-e-2 is overloaded");
    expect(failed.message).not.toContain("gpt-image-2");

    gw.sim.inject({
      route: "submit",
      status: 400,
      body: { error: { message: "gpt-image-2 does not take this prompt", code: "bad" } },
    });
    const refused = await apiError(gw.client.images.generate({ model: "dall-e-2", prompt: "p" }));
    expect(refused.status).toBe(400);
    expect(refused.message).toContain("dall-e-2 does not take this prompt");
    expect(refused.message).not.toContain("gpt-image-2");

    // Under its own name, the upstream's words are passed on as they are.
    const own = await apiError(
      gw.client.images.generate({
        model: "gpt-image-2",
        prompt: "p [sim:fail=gpt-image-2 is overloaded]",
      }),
    );
    expect(own.message).toContain("gpt-image-2 is overloaded");
  });
});
