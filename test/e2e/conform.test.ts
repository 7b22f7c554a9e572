// Issue 11, "what you ask is what you get": an OpenAI model name asking for a
// size or an output format gets exactly that, whatever the upstream made (the
// simulator always renders 8x8 PNGs); the upstream's own names and requests
// that ask for nothing in particular get the upstream's bytes untouched.
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { storedImages } from "../helpers/stored-images.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const decoded = (b64: string | undefined) => Buffer.from(b64 ?? "", "base64");
const taskId = () => gw.sim.submits[0]?.taskId ?? "";

describe("results are conformed to what an OpenAI caller asked", () => {
  it("dall-e-2 at 256x256 gives a 256x256 PNG", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "dall-e-2",
      prompt: "p",
      size: "256x256",
      response_format: "b64_json",
    });
    const meta = await sharp(decoded(result.data?.[0]?.b64_json)).metadata();
    expect(meta).toMatchObject({ format: "png", width: 256, height: 256 });
    expect(result).toMatchObject({ size: "256x256", output_format: "png" });
  });

  it("gpt-image-1 at a free size gives exactly that size (upstream made the nearest it makes)", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "gpt-image-1",
      prompt: "p",
      size: "1536x864" as never,
    });
    const meta = await sharp(decoded(result.data?.[0]?.b64_json)).metadata();
    expect(meta).toMatchObject({ width: 1536, height: 864 });
    expect(result.size).toBe("1536x864");
  });

  it("output_format webp gives WebP bytes, and the body says so", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "gpt-image-1",
      prompt: "p",
      output_format: "webp",
    });
    const bytes = decoded(result.data?.[0]?.b64_json);
    expect(bytes.toString("latin1", 8, 12)).toBe("WEBP");
    expect(await sharp(bytes).metadata()).toMatchObject({ format: "webp", width: 8, height: 8 });
    expect(result).toMatchObject({ output_format: "webp", size: "8x8" });
  });

  it("output_format jpeg with output_compression gives a JPEG", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "gpt-image-1",
      prompt: "p",
      size: "1024x1024",
      output_format: "jpeg",
      output_compression: 50,
    });
    const meta = await sharp(decoded(result.data?.[0]?.b64_json)).metadata();
    expect(meta).toMatchObject({ format: "jpeg", width: 1024, height: 1024 });
    expect(result).toMatchObject({ output_format: "jpeg", size: "1024x1024" });
  });

  it("every image of n is conformed, and a large (on-disk) result too", async () => {
    gw = await buildTestApp({ sim: { imageBytes: 2 * 1024 * 1024 } });
    const result = await gw.client.images.generate({
      model: "dall-e-2",
      prompt: "p",
      n: 2,
      size: "512x512",
      response_format: "b64_json",
    });
    expect(result.data).toHaveLength(2);
    for (const image of result.data ?? []) {
      expect(await sharp(decoded(image.b64_json)).metadata()).toMatchObject({
        width: 512,
        height: 512,
      });
    }
    // The downloads were replaced, not kept beside the conformed images.
    expect(await storedImages(gw.config.dataDir)).toHaveLength(2);
  });

  it("a url answer serves the conformed file", async () => {
    gw = await buildTestApp();
    const result = await gw.client.images.generate({
      model: "dall-e-2",
      prompt: "p",
      size: "256x256",
      response_format: "url",
    });
    const served = await fetch(result.data?.[0]?.url ?? "");
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    const meta = await sharp(Buffer.from(await served.arrayBuffer())).metadata();
    expect(meta).toMatchObject({ width: 256, height: 256 });
    expect(result.size).toBe("256x256");
  });

  it("an upstream result sharp cannot read fails the generation with a 502, keeping nothing", async () => {
    gw = await buildTestApp();
    // Sniffs as WebP, decodes as nothing.
    gw.sim.inject({ route: "download", rawBody: "RIFF\u0000\u0000\u0000\u0000WEBPVP8 broken" });
    const error = await apiError(
      gw.client.images.generate({ model: "dall-e-2", prompt: "p", size: "256x256" }),
    );
    expect(error).toMatchObject({ status: 502, code: "upstream_result_invalid" });
    expect(await storedImages(gw.config.dataDir)).toHaveLength(0);
  });
});

describe("nothing to do leaves the upstream's bytes untouched", () => {
  it.each([
    ["nano-banana", {}],
    ["nano-banana with a WxH size", { size: "1024x1024" }],
    ["gpt-image-2 at auto", { size: "auto" }],
    ["gpt-image-1 at auto in png", { size: "auto", output_format: "png" }],
  ] as const)("%s", async (label, extra) => {
    gw = await buildTestApp();
    const model = label.split(" ")[0] as string;
    const result = await gw.client.images.generate({
      model,
      prompt: "p",
      response_format: "b64_json",
      ...(extra as Record<string, never>),
    });
    expect(decoded(result.data?.[0]?.b64_json).equals(gw.sim.image(taskId(), 0).bytes)).toBe(true);
    expect(result.size).toBe("8x8");
  });
});
