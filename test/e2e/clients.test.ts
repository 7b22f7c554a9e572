// The client matrix: the clients people point at OpenAI, pointed at the
// gateway by their base-URL option and nothing else — the `openai` SDK v3
// (legacy axios API), v4 and v6, the Vercel AI SDK and LangChain's
// DallEAPIWrapper — each generating, editing (with and without a mask),
// making variations and failing as that client reports it. The README's
// "Works with" table is this file's outcome.
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createOpenAI } from "@ai-sdk/openai";
import { DallEAPIWrapper } from "@langchain/openai";
import { APICallError, generateImage } from "ai";
import OpenAI, { toFile } from "openai";
import { Configuration, type CreateImageRequest, OpenAIApi } from "openai-v3";
import OpenAIv4, { toFile as toFileV4 } from "openai-v4";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { leftHalfMask, pixel, red, solid } from "../helpers/images.js";

/** A 64×64 opaque red PNG. */
const redImage = () => solid(64, 64, red);

/** Decodes the bytes as an image and returns its size. */
async function decoded(bytes: Buffer | Uint8Array): Promise<[number, number]> {
  const meta = await sharp(bytes).metadata();
  expect(meta.format).toBeTruthy();
  expect(meta.width).toBeGreaterThan(0);
  expect(meta.height).toBeGreaterThan(0);
  return [meta.width ?? 0, meta.height ?? 0];
}

const fromB64 = (b64: string | undefined) => {
  expect(b64).toBeTruthy();
  return Buffer.from(b64 ?? "", "base64");
};

/** Fetches a gateway image URL (no key): 200 and image bytes. */
async function fetched(url: string | undefined): Promise<Buffer> {
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/images\//);
  const response = await fetch(url ?? "");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^image\//);
  const bytes = Buffer.from(await response.arrayBuffer());
  await decoded(bytes);
  return bytes;
}

/**
 * The masked edit reached the gateway as one (the mask's area is named upstream)
 * and kept the caller's pixels where the mask is opaque (the right half).
 */
async function keptRightHalf(gw: TestGateway, bytes: Buffer): Promise<void> {
  expect(gw.sim.submits.at(-1)?.prompt).toContain("Edit only the area from 0% to 50% across");
  const [width, height] = await decoded(bytes);
  expect(width).toBe(height);
  expect(await pixel(bytes, Math.floor(width * 0.75), Math.floor(height / 2))).toEqual(red);
  expect(await pixel(bytes, width - 1, height - 1)).toEqual(red);
}

let image: Buffer;
let mask: Buffer;
beforeAll(async () => {
  image = await redImage();
  mask = await leftHalfMask();
});

describe("openai v3 (Configuration + OpenAIApi, basePath)", () => {
  let gw: TestGateway;
  let api: OpenAIApi;
  let dir: string;
  let imagePath: string;
  let maskPath: string;
  beforeAll(async () => {
    gw = await buildTestApp();
    api = new OpenAIApi(new Configuration({ apiKey: gw.apiKey, basePath: `${gw.url}/v1` }));
    // v3 takes files as streams (typed `File`): what Node code passed it.
    dir = await mkdtemp(join(tmpdir(), "imagegate-clients-"));
    imagePath = join(dir, "in.png");
    maskPath = join(dir, "mask.png");
    await writeFile(imagePath, image);
    await writeFile(maskPath, mask);
  });
  afterAll(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const file = (path: string) => createReadStream(path) as unknown as File;

  it("createImage answers a URL that fetches", async () => {
    const { status, data } = await api.createImage({ prompt: "a banana", size: "256x256" });
    expect(status).toBe(200);
    const bytes = await fetched(data.data[0]?.url);
    expect(await decoded(bytes)).toEqual([256, 256]);
  });

  it("createImage answers b64_json", async () => {
    const { data } = await api.createImage({ prompt: "a banana", response_format: "b64_json" });
    expect(await decoded(fromB64(data.data[0]?.b64_json))).toEqual([1024, 1024]);
  });

  it("createImageEdit without a mask", async () => {
    const { data } = await api.createImageEdit(file(imagePath), "paint the sky");
    await fetched(data.data[0]?.url);
  });

  it("createImageEdit with a mask keeps the opaque half", async () => {
    const { data } = await api.createImageEdit(
      file(imagePath),
      "paint the sky",
      file(maskPath),
      1,
      "256x256",
      "b64_json",
    );
    const bytes = fromB64(data.data[0]?.b64_json);
    expect(await decoded(bytes)).toEqual([256, 256]);
    await keptRightHalf(gw, bytes);
  });

  it("createImageVariation", async () => {
    const { data } = await api.createImageVariation(file(imagePath), 1, "256x256");
    expect(await decoded(await fetched(data.data[0]?.url))).toEqual([256, 256]);
  });

  it("errors surface as axios errors with OpenAI's error body", async () => {
    // v3's request type has no `model`; code that sets one passes it through.
    const request = { prompt: "a banana", model: "no-such-model" } as CreateImageRequest;
    const err = await api.createImage(request).then(
      () => {
        throw new Error("expected the call to fail");
      },
      (e: { response?: { status: number; data: { error: { code: string } } } }) => e,
    );
    expect(err.response?.status).toBe(404);
    expect(err.response?.data.error.code).toBe("model_not_found");
  });
});

/** The same calls in the v4 and v6 SDKs, whose images API is the same shape. */
function modernSdk(
  name: string,
  make: (gw: TestGateway) => OpenAI | OpenAIv4,
  fileOf: (bytes: Buffer, name: string) => Promise<unknown>,
  isApiError: (
    err: unknown,
  ) => err is { status?: number | undefined; code?: string | null | undefined },
) {
  describe(name, () => {
    let gw: TestGateway;
    // Typed as v6: both SDKs take and answer the same image calls.
    let client: OpenAI;
    beforeAll(async () => {
      gw = await buildTestApp();
      client = make(gw) as OpenAI;
    });
    afterAll(async () => {
      await gw?.close();
    });
    const upload = async (bytes: Buffer, file: string) =>
      (await fileOf(bytes, file)) as Awaited<ReturnType<typeof toFile>>;

    it("images.generate (url, dall-e-3)", async () => {
      const result = await client.images.generate({ model: "dall-e-3", prompt: "a banana" });
      expect(await decoded(await fetched(result.data?.[0]?.url))).toEqual([1024, 1024]);
    });

    it("images.generate (b64_json, gpt-image-1)", async () => {
      const result = await client.images.generate({
        model: "gpt-image-1",
        prompt: "a banana",
        size: "1024x1024",
      });
      expect(await decoded(fromB64(result.data?.[0]?.b64_json))).toEqual([1024, 1024]);
    });

    it("images.edit without a mask", async () => {
      const result = await client.images.edit({
        model: "gpt-image-1",
        prompt: "paint the sky",
        image: await upload(image, "in.png"),
      });
      await decoded(fromB64(result.data?.[0]?.b64_json));
    });

    it("images.edit with a mask keeps the opaque half", async () => {
      const result = await client.images.edit({
        model: "dall-e-2",
        prompt: "paint the sky",
        image: await upload(image, "in.png"),
        mask: await upload(mask, "mask.png"),
        size: "256x256",
        response_format: "b64_json",
      });
      const bytes = fromB64(result.data?.[0]?.b64_json);
      expect(await decoded(bytes)).toEqual([256, 256]);
      await keptRightHalf(gw, bytes);
    });

    it("images.createVariation", async () => {
      const result = await client.images.createVariation({
        model: "dall-e-2",
        image: await upload(image, "in.png"),
        size: "256x256",
      });
      expect(await decoded(await fetched(result.data?.[0]?.url))).toEqual([256, 256]);
    });

    it("errors are the SDK's APIError with status and code", async () => {
      const err = await client.images.generate({ model: "no-such-model", prompt: "a banana" }).then(
        () => {
          throw new Error("expected the call to fail");
        },
        (e: unknown) => e,
      );
      expect(isApiError(err)).toBe(true);
      if (!isApiError(err)) return;
      expect(err.status).toBe(404);
      expect(err.code).toBe("model_not_found");
    });
  });
}

modernSdk(
  "openai v4 (new OpenAI({ baseURL }))",
  (gw) => new OpenAIv4({ apiKey: gw.apiKey, baseURL: `${gw.url}/v1`, maxRetries: 0 }),
  (bytes, name) => toFileV4(bytes, name, { type: "image/png" }),
  (err): err is InstanceType<typeof OpenAIv4.APIError> => err instanceof OpenAIv4.APIError,
);

modernSdk(
  "openai v6 (new OpenAI({ baseURL }))",
  (gw) => gw.client,
  (bytes, name) => toFile(bytes, name, { type: "image/png" }),
  (err): err is InstanceType<typeof OpenAI.APIError> => err instanceof OpenAI.APIError,
);

describe("Vercel AI SDK (generateImage + createOpenAI({ baseURL }).image)", () => {
  let gw: TestGateway;
  let provider: ReturnType<typeof createOpenAI>;
  beforeAll(async () => {
    gw = await buildTestApp();
    provider = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: gw.apiKey });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it.each(["dall-e-3", "gpt-image-1"])("generateImage with %s", async (model) => {
    const { image: generated } = await generateImage({
      model: provider.image(model),
      prompt: "a banana",
      size: "1024x1024",
      maxRetries: 0,
    });
    expect(generated.mediaType).toMatch(/^image\//);
    expect(await decoded(generated.uint8Array)).toEqual([1024, 1024]);
  });

  it("generateImage with images (an edit) and no mask", async () => {
    const { image: edited } = await generateImage({
      model: provider.image("gpt-image-1"),
      prompt: { text: "paint the sky", images: [image] },
      maxRetries: 0,
    });
    await decoded(edited.uint8Array);
  });

  it("generateImage with images and a mask keeps the opaque half", async () => {
    const { image: edited } = await generateImage({
      model: provider.image("gpt-image-1"),
      prompt: { text: "paint the sky", images: [image], mask },
      size: "1024x1024",
      maxRetries: 0,
    });
    const bytes = Buffer.from(edited.uint8Array);
    expect(await decoded(bytes)).toEqual([1024, 1024]);
    await keptRightHalf(gw, bytes);
  });

  it("errors are APICallError with the status and OpenAI's error body", async () => {
    const err = await generateImage({
      model: provider.image("no-such-model"),
      prompt: "a banana",
      maxRetries: 0,
    }).then(
      () => {
        throw new Error("expected the call to fail");
      },
      (e: unknown) => e,
    );
    expect(APICallError.isInstance(err)).toBe(true);
    if (!APICallError.isInstance(err)) return;
    expect(err.statusCode).toBe(404);
    expect(err.isRetryable).toBe(false);
    expect(JSON.parse(err.responseBody ?? "{}").error.code).toBe("model_not_found");
  });
});

describe("LangChain DallEAPIWrapper ({ baseUrl })", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await buildTestApp();
  });
  afterAll(async () => {
    await gw?.close();
  });
  const wrapper = (fields: ConstructorParameters<typeof DallEAPIWrapper>[0] = {}) =>
    new DallEAPIWrapper({ apiKey: gw.apiKey, baseUrl: `${gw.url}/v1`, ...fields });

  it("invoke returns a URL that fetches (dall-e-3, url by default)", async () => {
    const url = await wrapper().invoke("a banana");
    expect(typeof url).toBe("string");
    expect(await decoded(await fetched(url as string))).toEqual([1024, 1024]);
  });

  it("invoke returns base64 with dallEResponseFormat b64_json", async () => {
    const b64 = await wrapper({ model: "dall-e-2", dallEResponseFormat: "b64_json" }).invoke(
      "a banana",
    );
    expect(typeof b64).toBe("string");
    expect(await decoded(fromB64(b64 as string))).toEqual([1024, 1024]);
  });

  it("errors reject with the OpenAI SDK's APIError", async () => {
    const err = await wrapper({ model: "no-such-model" })
      .invoke("a banana")
      .then(
        () => {
          throw new Error("expected the call to fail");
        },
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("model_not_found");
  });
});
