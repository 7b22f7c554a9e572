// OpenAI image request → upstream submit body, per family, against UPSTREAM.md
// (sizes, qualities, references, Gemini image_config) and OPENAI.md (sizes,
// qualities, response_format defaults). Table-driven, pure: no I/O.
import { describe, expect, it } from "vitest";
import type { ImageRequest } from "../../src/catalog/request.js";
import { translateRequest, translationTables } from "../../src/catalog/translate.js";
import { GatewayError, InvalidRequestError, NotFoundError } from "../../src/errors.js";

const prompt = "a banana";
const translate = (request: Partial<ImageRequest>) => translateRequest({ prompt, ...request });

/** The error translateRequest throws for `request`; fails the test if none. */
function rejection(request: Partial<ImageRequest>): GatewayError {
  try {
    translate(request);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(request)} to be rejected`);
}

const gemini = ["gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview"] as const;
const grok = [
  "grok-imagine-image",
  "grok-imagine-image-pro",
  "grok-imagine-image-lite",
  "grok-imagine-image-edit",
] as const;

describe("the upstream's own examples (seed)", () => {
  it("GPT Image 2 text-to-image goes out as sent", () => {
    const { body } = translate({
      model: "gpt-image-2",
      size: "1024x1024",
      quality: "auto",
      n: 1,
    });
    expect(body).toEqual({
      model: "gpt-image-2",
      prompt,
      size: "1024x1024",
      quality: "auto",
      n: 1,
    });
  });

  it("Nano Banana Pro 4K: the explicit image_config selects the resolution", () => {
    const { body, echo } = translate({
      model: "gemini-3-pro-image-preview",
      size: "16:9",
      quality: "2K",
      n: 1,
      extra_body: { google: { image_config: { aspect_ratio: "16:9", image_size: "4K" } } },
    });
    expect(body).toEqual({
      model: "gemini-3-pro-image-preview",
      prompt,
      n: 1,
      size: "16:9",
      quality: "4K",
      extra_body: { google: { image_config: { aspect_ratio: "16:9", image_size: "4K" } } },
    });
    // The upstream's units stay out of the answer (issue 11).
    expect(echo).toEqual({});
  });

  it("Grok Imagine Pro text-to-image goes out as sent", () => {
    const { body } = translate({ model: "grok-imagine-image-pro", size: "16:9", n: 1 });
    expect(body).toEqual({ model: "grok-imagine-image-pro", prompt, size: "16:9", n: 1 });
  });

  it("Nano Banana 2 image-to-image carries the reference as one string", () => {
    const { body } = translate({
      model: "gemini-3.1-flash-image-preview",
      size: "16:9",
      quality: "2K",
      n: 1,
      image_url: "https://example.com/input.jpg",
    });
    expect(body).toEqual({
      model: "gemini-3.1-flash-image-preview",
      prompt,
      n: 1,
      size: "16:9",
      quality: "2K",
      image_url: "https://example.com/input.jpg",
      extra_body: { google: { image_config: { aspect_ratio: "16:9", image_size: "2K" } } },
    });
  });
});

describe("model resolution", () => {
  it.each([
    [undefined, "gpt-image-2"],
    ["dall-e", "gpt-image-2"],
    ["dall-e-2", "gpt-image-2"],
    ["dall-e-3", "grok-imagine-image-pro"],
    ["nano-banana", "gemini-3.1-flash-image-preview"],
    ["nano-banana2", "gemini-3.1-flash-image-preview"],
    ["nano-banana-2", "gemini-3.1-flash-image-preview"],
    ["nano-banana-pro", "gemini-3-pro-image-preview"],
    ["grok-imagine-image-quality", "grok-imagine-image-pro"],
    ["GPT-Image-2", "gpt-image-2"],
    ["gpt-image-1", "gpt-image-2"],
    ["gpt-image-1-mini", "gpt-image-2"],
    ["gpt-image-1.5", "gpt-image-2"],
    ["gpt-image-2-2026-04-21", "gpt-image-2"],
    ["chatgpt-image-latest", "gpt-image-2"],
  ])("model %j is submitted as %s", (model, id) => {
    const translation = translate({ model });
    expect(translation.body.model).toBe(id);
    expect(translation.model.spec.id).toBe(id);
  });

  it.each(["gpt-image-3", "dall-e-4", "midjourney", ""])("unknown model %j is a 404", (model) => {
    const error = rejection({ model });
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ status: 404, code: "model_not_found", param: "model" });
    expect(error.message).toContain(`'${model}'`);
  });
});

// Every OpenAI size (OPENAI.md) plus GPT Image 2's native ones (UPSTREAM.md):
// what GPT Image 2 gets for a GPT image name (400: below OpenAI's pixel bound
// for gpt-image-2), what Gemini gets (ratio and implied resolution), what Grok gets.
const sizeTable: [
  size: string,
  gpt: string,
  geminiRatio: string | undefined,
  geminiResolution: string | undefined,
  grokRatio: string | undefined,
][] = [
  ["256x256", "400", "1:1", undefined, "1:1"],
  ["512x512", "400", "1:1", undefined, "1:1"],
  ["1024x1024", "1024x1024", "1:1", undefined, "1:1"],
  ["1792x1024", "2048x1152", "16:9", undefined, "16:9"],
  ["1024x1792", "1024x1536", "9:16", undefined, "9:16"],
  ["1536x1024", "1536x1024", "3:2", undefined, "3:2"],
  ["1024x1536", "1024x1536", "2:3", undefined, "2:3"],
  ["2048x1152", "2048x1152", "16:9", "2K", "16:9"],
  ["3840x2160", "3840x2160", "16:9", "4K", "16:9"],
  ["2160x3840", "2160x3840", "9:16", "4K", "9:16"],
  ["auto", "auto", undefined, undefined, undefined],
];

describe("size on GPT Image 2", () => {
  it.each(sizeTable.filter(([, gpt]) => gpt !== "400"))("%s → %s", (size, expected) => {
    const { body, echo } = translate({ model: "gpt-image-2", size });
    expect(body.size).toBe(expected);
    // The answer remembers the size asked, not the one made upstream.
    expect(echo.size).toBe(size === "auto" ? undefined : size);
  });

  it.each(sizeTable.filter(([, gpt]) => gpt === "400"))("%s is a 400", (size) => {
    expect(rejection({ model: "gpt-image-2", size })).toMatchObject({ status: 400, param: "size" });
  });

  it.each([
    ["1024X1024", "1024x1024"],
    [" AUTO ", "auto"],
    ["1792X1024", "2048x1152"],
  ])("spelling %j → %s", (size, expected) => {
    expect(translate({ model: "gpt-image-2", size }).body.size).toBe(expected);
  });

  it.each([
    ["gpt-image-2", "auto", undefined],
    ["gpt-image-1", "auto", undefined],
    ["dall-e", "1024x1024", "1024x1024"],
    ["dall-e-2", "1024x1024", "1024x1024"],
    [undefined, "1024x1024", "1024x1024"],
  ])("no size on %j → %s", (model, expected, echoed) => {
    const { body, echo } = translate({ model });
    expect(body.size).toBe(expected);
    expect(echo.size).toBe(echoed);
  });
});

// Issue 11: GPT image names take OpenAI's free gpt-image-2 sizes, made at the
// nearest size the upstream makes; the size asked is kept for the answer.
describe.each([
  "gpt-image-1",
  "gpt-image-1-mini",
  "gpt-image-1.5",
  "gpt-image-2",
  "gpt-image-2-2026-04-21",
  "chatgpt-image-latest",
])("free sizes on %s", (model) => {
  it.each([
    ["1536x864", "2048x1152"],
    ["2560x1440", "2048x1152"],
    ["1920x1088", "2048x1152"],
    ["3200x1808", "3840x2160"],
    ["1024x768", "1536x1024"],
    ["768x1024", "1024x1536"],
    ["2048x2048", "1024x1024"],
    ["2304x768", "2048x1152"],
    ["768x2304", "1024x1536"],
    ["1008x1008", "1024x1024"],
    ["3840x2160", "3840x2160"],
  ])("%s → upstream %s", (size, upstream) => {
    const { body, echo } = translate({ model, size });
    expect(body).toMatchObject({ model: "gpt-image-2", size: upstream });
    expect(echo.size).toBe(size);
  });

  it.each([
    ["1000x1000", "multiples of 16", "1008x1008"],
    ["512x512", "at least 655,360 pixels", "816x816"],
    ["4096x4096", "at most 3840", "2880x2880"],
    ["3840x3840", "at most 8,294,400 pixels", "2880x2880"],
    ["3072x768", "between 1:3 and 3:1", "2656x896"],
    ["1920x1080", "multiples of 16", "1920x1088"],
    ["16:9", "not WIDTHxHEIGHT", undefined],
  ])("%s is a 400 on size saying why (%s) and what works (%s)", (size, why, nearest) => {
    const error = rejection({ model, size });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "size", code: "invalid_value" });
    expect(error.message).toContain(`'${size}' for ${model}`);
    expect(error.message).toContain(why);
    if (nearest !== undefined)
      expect(error.message).toContain(`nearest size that works is ${nearest}`);
    expect(error.message).toContain("1536x1024");
    // The caller's name, never the upstream model's.
    if (!model.startsWith("gpt-image-2")) expect(error.message).not.toContain("gpt-image-2");
  });
});

// Issue 11: DALL·E names keep OpenAI's own size lists.
describe("DALL·E sizes", () => {
  it.each([
    ["dall-e-2", "256x256", "1024x1024"],
    ["dall-e-2", "512x512", "1024x1024"],
    ["dall-e-2", "1024x1024", "1024x1024"],
    ["dall-e", "512x512", "1024x1024"],
    ["dall-e-3", "1024x1024", "1:1"],
    ["dall-e-3", "1792x1024", "16:9"],
    ["dall-e-3", "1024x1792", "9:16"],
    ["dall-e-3", undefined, "1:1"],
  ])("%s %s → upstream %s, the size asked kept for the answer", (model, size, upstream) => {
    const { body, echo } = translate({ model, size });
    expect(body.size).toBe(upstream);
    expect(echo.size).toBe(size ?? "1024x1024");
  });

  it.each([
    ["dall-e-2", "1792x1024", "256x256, 512x512, 1024x1024"],
    ["dall-e-2", "1536x1024", "256x256, 512x512, 1024x1024"],
    ["dall-e-2", "auto", "256x256, 512x512, 1024x1024"],
    ["DALL-E-2", "2048x1152", "256x256, 512x512, 1024x1024"],
    ["dall-e-3", "512x512", "1024x1024, 1792x1024, 1024x1792"],
    ["dall-e-3", "16:9", "1024x1024, 1792x1024, 1024x1792"],
    ["dall-e-3", "1536x1024", "1024x1024, 1792x1024, 1024x1792"],
  ])("%s with %s is a 400 naming the model as sent and its sizes", (model, size, sizes) => {
    const error = rejection({ model, size });
    expect(error).toMatchObject({ status: 400, param: "size", code: "invalid_value" });
    expect(error.message).toBe(`Invalid size '${size}' for ${model}. Supported sizes: ${sizes}.`);
  });
});

describe.each(gemini)("size on %s", (model) => {
  it.each(sizeTable)("%s (gpt %s) → ratio %s, resolution %s", (size, _gpt, ratio, res) => {
    const { body, echo } = translate({ model, size });
    expect(body.size).toBe(ratio);
    expect(body.quality).toBe(res);
    // The answer keeps the WxH asked; ratios and resolutions are the upstream's units.
    expect(echo).toEqual(size === "auto" ? {} : { size });
    if (ratio === undefined && res === undefined) {
      expect(body.extra_body).toBeUndefined();
    } else {
      expect(body.extra_body).toEqual({
        google: {
          image_config: {
            ...(ratio === undefined ? {} : { aspect_ratio: ratio }),
            ...(res === undefined ? {} : { image_size: res }),
          },
        },
      });
    }
  });

  it.each(["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "21:9"])(
    "native ratio %s goes out as size and image_config.aspect_ratio",
    (ratio) => {
      const { body, echo } = translate({ model, size: ratio });
      expect(body.size).toBe(ratio);
      expect(body.quality).toBeUndefined();
      expect(body.extra_body).toEqual({ google: { image_config: { aspect_ratio: ratio } } });
      expect(echo).toEqual({});
    },
  );

  it("no size leaves the model default", () => {
    const { body, echo } = translate({ model });
    expect(body).toEqual({ model, prompt, n: 1 });
    expect(echo).toEqual({});
  });
});

// Other WxH sizes: nearest ratio by log aspect; long side ≥1800 → 2K, ≥3000 → 4K (README).
describe("nearest ratio for other WxH sizes", () => {
  it.each([
    ["1000x500", "16:9", undefined, "16:9"],
    ["1280x1024", "5:4", undefined, "4:3"],
    ["1024x1280", "4:5", undefined, "3:4"],
    ["2560x1080", "21:9", "2K", "16:9"],
    ["1080x2560", "9:16", "2K", "9:16"],
    ["800x600", "4:3", undefined, "4:3"],
    ["1200x800", "3:2", undefined, "3:2"],
    ["64x64", "1:1", undefined, "1:1"],
    ["1799x1012", "16:9", undefined, "16:9"],
    ["1800x1012", "16:9", "2K", "16:9"],
    ["2999x2999", "1:1", "2K", "1:1"],
    ["3000x3000", "1:1", "4K", "1:1"],
    ["8192x8192", "1:1", "4K", "1:1"],
  ])("%s → Gemini %s (%s), Grok %s", (size, geminiRatio, resolution, grokRatio) => {
    const flash = translate({ model: "nano-banana", size }).body;
    expect(flash.size).toBe(geminiRatio);
    expect(flash.quality).toBe(resolution);
    const pro = translate({ model: "grok-imagine-image-pro", size }).body;
    expect(pro.size).toBe(grokRatio);
    expect(pro.quality).toBeUndefined();
  });
});

describe.each(grok)("size on %s", (model) => {
  it.each(sizeTable)("%s → (gpt %s, gemini %s/%s) ratio %s", (size, _gpt, _r, _res, ratio) => {
    const { body, echo } = translate({ model, size });
    expect(body.size).toBe(ratio);
    expect(body.quality).toBeUndefined();
    expect(body.extra_body).toBeUndefined();
    expect(echo).toEqual(size === "auto" ? {} : { size });
  });

  it.each(["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"])("native ratio %s", (ratio) => {
    expect(translate({ model, size: ratio }).body.size).toBe(ratio);
  });

  it("no size leaves the model default", () => {
    expect(translate({ model }).body).toEqual({ model, prompt, n: 1 });
  });
});

describe("sizes a model cannot honour are a 400 on size", () => {
  it.each([
    ["gpt-image-2", "16:9"],
    ["gpt-image-2", "1:1"],
    ["gpt-image-2", "1000x1000"],
    ["gpt-image-2", "512x256"],
    ["gpt-image-2", "256x256"],
    ["gpt-image-1", "1024x1023"],
    ["gpt-image-2", "large"],
    ["dall-e-2", "1920x1080"],
    ["nano-banana", "16:10"],
    ["nano-banana", "63x63"],
    ["nano-banana", "8193x1024"],
    ["nano-banana", "0x0"],
    ["nano-banana-pro", "big"],
    ["nano-banana-pro", "1024*1024"],
    ["grok-imagine-image", "5:4"],
    ["grok-imagine-image", "4:5"],
    ["grok-imagine-image-pro", "21:9"],
    ["dall-e-3", "100000x100"],
    ["grok-imagine-image-edit", "square"],
    // Regression: names of Object.prototype members once passed as table entries.
    ["gpt-image-2", "constructor"],
    ["gpt-image-2", "__proto__"],
    ["nano-banana", "toString"],
  ])("%s with size %j", (model, size) => {
    const error = rejection({ model, size });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "size", code: "invalid_value" });
    expect(error.message).toContain(`'${size}'`);
  });
});

describe("quality on GPT Image 2", () => {
  it.each([
    ["low", "low"],
    ["medium", "medium"],
    ["high", "high"],
    ["auto", "auto"],
    ["standard", "medium"],
    ["hd", "high"],
    ["HD", "high"],
    [" Low ", "low"],
  ])("%j → %s", (quality, expected) => {
    const { body, echo } = translate({ model: "gpt-image-2", quality });
    expect(body.quality).toBe(expected);
    // `auto` is the model's choice: no quality OpenAI's response could name.
    expect(echo.quality).toBe(expected === "auto" ? undefined : expected);
  });

  it("no quality sends none", () => {
    const { body, echo } = translate({ model: "gpt-image-2" });
    expect(body).not.toHaveProperty("quality");
    expect(echo).not.toHaveProperty("quality");
  });

  it("the DALL·E quality table", () => {
    expect(translationTables.gptLegacyQualities).toEqual({ standard: "medium", hd: "high" });
  });
});

describe.each(gemini)("quality on %s", (model) => {
  it.each([
    ["low", "1K"],
    ["medium", "1K"],
    ["standard", "1K"],
    ["high", "2K"],
    ["hd", "2K"],
    ["1K", "1K"],
    ["2K", "2K"],
    ["4K", "4K"],
    ["4k", "4K"],
    [" 2k ", "2K"],
    ["HIGH", "2K"],
  ])("%j → %s", (quality, resolution) => {
    const { body, echo } = translate({ model, quality });
    expect(body.quality).toBe(resolution);
    expect(echo.quality).toBeUndefined();
    expect(body.extra_body).toEqual({ google: { image_config: { image_size: resolution } } });
  });

  it("auto leaves the model default", () => {
    const { body, echo } = translate({ model, quality: "auto" });
    expect(body).toEqual({ model, prompt, n: 1 });
    expect(echo).toEqual({});
  });

  it.each([
    ["auto", "3840x2160", "4K"],
    ["auto", "2048x1152", "2K"],
    ["low", "3840x2160", "1K"],
    ["hd", "3840x2160", "2K"],
    ["4K", "1024x1024", "4K"],
  ])("quality %s with size %s → %s", (quality, size, resolution) => {
    expect(translate({ model, quality, size }).body.quality).toBe(resolution);
  });
});

describe.each(grok)("quality on %s", (model) => {
  it.each(["auto", "standard", "hd", "HD", " Auto "])(
    "%j is accepted as the model default",
    (q) => {
      const { body, echo } = translate({ model, quality: q });
      expect(body).toEqual({ model, prompt, n: 1 });
      expect(echo).toEqual({});
    },
  );
});

describe("qualities a model cannot honour are a 400 on quality", () => {
  it.each([
    ["gpt-image-2", "1K"],
    ["gpt-image-2", "4K"],
    ["gpt-image-2", "ultra"],
    ["dall-e-2", "best"],
    ["nano-banana", "8K"],
    ["nano-banana", "ultra"],
    ["nano-banana-pro", "premium"],
    ["grok-imagine-image", "low"],
    ["grok-imagine-image-pro", "medium"],
    ["dall-e-3", "high"],
    ["grok-imagine-image-lite", "1K"],
    ["grok-imagine-image-edit", "4K"],
  ])("%s with quality %j", (model, quality) => {
    const error = rejection({ model, quality });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "quality", code: "invalid_value" });
    expect(error.message).toContain(`'${quality}'`);
  });

  it("the Gemini quality table", () => {
    expect(translationTables.geminiQualityResolution).toEqual({
      low: "1K",
      medium: "1K",
      standard: "1K",
      high: "2K",
      hd: "2K",
      auto: undefined,
    });
  });
});

describe("Gemini extra_body.google.image_config", () => {
  it.each([
    // [size, quality, image_config, body.size, body.quality, final image_config]
    [undefined, undefined, { aspect_ratio: "21:9" }, "21:9", undefined, { aspect_ratio: "21:9" }],
    [undefined, undefined, { image_size: "4k" }, undefined, "4K", { image_size: "4K" }],
    ["16:9", "1K", { image_size: "4K" }, "16:9", "4K", { aspect_ratio: "16:9", image_size: "4K" }],
    ["1792x1024", undefined, { aspect_ratio: "16:9" }, "16:9", undefined, { aspect_ratio: "16:9" }],
    ["auto", "hd", { aspect_ratio: "4:5" }, "4:5", "2K", { aspect_ratio: "4:5", image_size: "2K" }],
    [
      "3840x2160",
      undefined,
      { image_size: "1K" },
      "16:9",
      "1K",
      { aspect_ratio: "16:9", image_size: "1K" },
    ],
    [
      "1:1",
      undefined,
      { aspect_ratio: " 1:1 ", seed: 7 },
      "1:1",
      undefined,
      { aspect_ratio: "1:1", seed: 7 },
    ],
  ])(
    "size %j, quality %j, image_config %j → size %j, quality %j, image_config %j",
    (size, quality, config, outSize, outQuality, outConfig) => {
      const { body } = translate({
        model: "nano-banana-pro",
        size,
        quality,
        extra_body: { google: { image_config: config } },
      });
      expect(body.size).toBe(outSize);
      expect(body.quality).toBe(outQuality);
      expect(body.extra_body).toEqual({ google: { image_config: outConfig } });
    },
  );

  it("keeps other extra_body and google keys next to the merged image_config", () => {
    const request: ImageRequest = {
      prompt,
      model: "nano-banana",
      size: "1536x1024",
      quality: "high",
      extra_body: {
        trace: "t-1",
        google: { safety: "strict", image_config: { person_generation: "none" } },
      },
    };
    const before = structuredClone(request);
    const { body } = translateRequest(request);
    expect(body.extra_body).toEqual({
      trace: "t-1",
      google: {
        safety: "strict",
        image_config: { person_generation: "none", aspect_ratio: "3:2", image_size: "2K" },
      },
    });
    expect(request).toEqual(before);
  });

  it("passes extra_body without google keys through untouched", () => {
    const { body } = translate({ model: "nano-banana", extra_body: { trace: "t-2" } });
    expect(body.extra_body).toEqual({ trace: "t-2" });
  });

  it.each([
    ["1024x1024", { aspect_ratio: "16:9" }],
    ["9:16", { aspect_ratio: "16:9" }],
    ["3840x2160", { aspect_ratio: "9:16" }],
    [undefined, { aspect_ratio: "7:3" }],
    [undefined, { aspect_ratio: "16x9" }],
    [undefined, { image_size: "8K" }],
    [undefined, { image_size: "high" }],
  ])("size %j with image_config %j is a 400 on extra_body", (size, config) => {
    const error = rejection({
      model: "gemini-3-pro-image-preview",
      size,
      extra_body: { google: { image_config: config } },
    });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "extra_body" });
  });

  it.each(["gpt-image-2", "dall-e-3", ...grok])(
    "extra_body.google on %s is a 400 on extra_body",
    (model) => {
      const error = rejection({
        model,
        extra_body: { google: { image_config: { aspect_ratio: "1:1" } } },
      });
      expect(error).toMatchObject({ status: 400, param: "extra_body" });
    },
  );
});

describe("extra_body on GPT Image 2 and Grok", () => {
  it.each(["gpt-image-2", ...grok])("%s passes non-Google extra_body through", (model) => {
    const extra = { trace: "t-3", nested: { a: 1 } };
    expect(translate({ model, extra_body: extra }).body.extra_body).toEqual(extra);
  });

  it.each(["gpt-image-2", ...grok])("%s drops an empty extra_body", (model) => {
    expect(translate({ model, extra_body: {} }).body).not.toHaveProperty("extra_body");
  });
});

describe("background, moderation, output_format, output_compression on GPT Image 2", () => {
  it.each([
    [{ background: "transparent" }, { background: "transparent" }],
    [
      { background: "transparent", output_format: "png" },
      { background: "transparent", output_format: "png" },
    ],
    [
      { background: "transparent", output_format: "webp" },
      { background: "transparent", output_format: "webp" },
    ],
    [
      { background: "opaque", output_format: "jpeg" },
      { background: "opaque", output_format: "jpeg" },
    ],
    [{ background: "auto" }, { background: "auto" }],
    [{ moderation: "low" }, { moderation: "low" }],
    [
      { output_format: "jpeg", output_compression: 80 },
      { output_format: "jpeg", output_compression: 80 },
    ],
    [
      { output_format: "webp", output_compression: 0 },
      { output_format: "webp", output_compression: 0 },
    ],
    [{ output_format: "png" }, { output_format: "png" }],
  ] as [Partial<ImageRequest>, Record<string, unknown>][])("%j → %j", (fields, expected) => {
    const { body, echo } = translate({ model: "gpt-image-2", ...fields });
    expect(body).toEqual({ model: "gpt-image-2", prompt, n: 1, size: "auto", ...expected });
    expect(echo.background).toBe(fields.background === "auto" ? undefined : fields.background);
    expect(echo.output_format).toBe(fields.output_format);
  });

  it.each([
    [{ background: "transparent", output_format: "jpeg" }, "background"],
    [{ output_compression: 50 }, "output_compression"],
    [{ output_format: "png", output_compression: 50 }, "output_compression"],
  ] as [Partial<ImageRequest>, string][])("%j is a 400 on %s", (fields, param) => {
    const error = rejection({ model: "gpt-image-2", ...fields });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param });
  });
});

describe.each([...gemini, ...grok])("output options on %s", (model) => {
  it.each([
    [{ background: "transparent" }, "background"],
    [{ output_format: "png" }, "output_format"],
    [{ output_format: "jpeg" }, "output_format"],
    [{ output_compression: 80 }, "output_compression"],
  ] as [Partial<ImageRequest>, string][])("%j is a 400 on %s", (fields, param) => {
    const error = rejection({ model, ...fields });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param });
  });

  it.each([
    { background: "opaque" },
    { background: "auto" },
    { moderation: "low" },
    { style: "vivid" },
    { user: "u-1" },
  ] as Partial<ImageRequest>[])("%j is accepted and not sent upstream", (fields) => {
    const { body, echo } = translate({ model, ...fields });
    expect(body).toEqual({ model, prompt, n: 1 });
    expect(echo).toEqual(fields.background === "opaque" ? { background: "opaque" } : {});
  });
});

describe("fields OpenAI accepts that the upstream does not take", () => {
  it.each(["gpt-image-2", ...gemini, ...grok])(
    "%s: style, user, stream, partial_images, response_format stay out of the body",
    (model) => {
      const { body } = translate({
        model,
        style: "natural",
        user: "u-2",
        stream: false,
        partial_images: 2,
        response_format: "url",
      });
      for (const key of ["style", "user", "stream", "partial_images", "response_format"]) {
        expect(body).not.toHaveProperty(key);
      }
    },
  );
});

describe("n", () => {
  it.each([
    [undefined, 1],
    [1, 1],
    [4, 4],
    [10, 10],
  ])("n %j → %i in the body and the translation", (n, expected) => {
    for (const model of ["gpt-image-2", "nano-banana", "grok-imagine-image"]) {
      const translation = translate({ model, n });
      expect(translation.n).toBe(expected);
      expect(translation.body.n).toBe(expected);
    }
  });
});

describe("response_format", () => {
  it.each([
    [undefined, undefined, "url"],
    ["dall-e", undefined, "url"],
    ["dall-e-2", undefined, "url"],
    ["dall-e-3", undefined, "url"],
    ["DALL-E-3", undefined, "url"],
    ["gpt-image-2", undefined, "b64_json"],
    ["nano-banana", undefined, "b64_json"],
    ["nano-banana-pro", undefined, "b64_json"],
    ["gemini-3-pro-image-preview", undefined, "b64_json"],
    ["grok-imagine-image-pro", undefined, "b64_json"],
    ["grok-imagine-image-quality", undefined, "b64_json"],
    ["dall-e-3", "b64_json", "b64_json"],
    [undefined, "b64_json", "b64_json"],
    ["gpt-image-2", "url", "url"],
    ["grok-imagine-image-lite", "url", "url"],
    // Issue 11: every GPT image name defaults to b64_json, as at OpenAI.
    ["gpt-image-1", undefined, "b64_json"],
    ["gpt-image-1-mini", undefined, "b64_json"],
    ["gpt-image-1.5", undefined, "b64_json"],
    ["gpt-image-2-2026-04-21", undefined, "b64_json"],
    ["chatgpt-image-latest", undefined, "b64_json"],
    ["gpt-image-1", "url", "url"],
  ] as const)("model %j, response_format %j → %s", (model, responseFormat, expected) => {
    expect(translate({ model, response_format: responseFormat }).responseFormat).toBe(expected);
  });
});

describe("image_url references", () => {
  const ref = (i: number) => `https://example.com/ref-${i}.png`;
  const refs = (count: number) => Array.from({ length: count }, (_, i) => ref(i));

  it.each([
    ["gpt-image-2", 14],
    ["dall-e-2", 14],
    ["gemini-3-pro-image-preview", 4],
    ["gemini-3.1-flash-image-preview", 4],
    ["grok-imagine-image", 1],
    ["grok-imagine-image-pro", 1],
    ["dall-e-3", 1],
    ["grok-imagine-image-edit", 3],
  ])("%s takes up to %i references", (model, limit) => {
    const { body } = translate({ model, image_url: refs(limit) });
    expect(body.image_url).toEqual(limit === 1 ? ref(0) : refs(limit));
  });

  it.each([
    ["gpt-image-2", 15],
    ["gemini-3-pro-image-preview", 5],
    ["nano-banana", 5],
    ["grok-imagine-image", 2],
    ["grok-imagine-image-pro", 2],
    ["grok-imagine-image-edit", 4],
    ["grok-imagine-image-lite", 1],
  ])("%s refuses %i references with a 400 on image_url", (model, count) => {
    const error = rejection({ model, image_url: refs(count) });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "image_url" });
  });

  it("grok-imagine-image-lite refuses even a single string reference", () => {
    const error = rejection({ model: "grok-imagine-image-lite", image_url: ref(0) });
    expect(error).toMatchObject({ status: 400, param: "image_url" });
    expect(error.message).toContain("does not take reference images");
  });

  it.each([
    [ref(0), ref(0)],
    [[ref(0)], ref(0)],
    [
      [ref(0), ref(1)],
      [ref(0), ref(1)],
    ],
    ["http://example.com/a.jpg", "http://example.com/a.jpg"],
    ["HTTPS://EXAMPLE.COM/A.JPG", "HTTPS://EXAMPLE.COM/A.JPG"],
    ["data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo="],
    ["data:image/svg+xml;base64,PHN2Zz4=", "data:image/svg+xml;base64,PHN2Zz4="],
  ] as [string | string[], string | string[]][])("%j → %j", (imageUrl, expected) => {
    expect(translate({ model: "nano-banana", image_url: imageUrl }).body.image_url).toEqual(
      expected,
    );
  });

  it.each([[undefined], [[]]] as [string[] | undefined][])("%j sends no image_url", (imageUrl) => {
    expect(translate({ model: "gpt-image-2", image_url: imageUrl }).body).not.toHaveProperty(
      "image_url",
    );
  });

  it.each([
    "ftp://example.com/a.png",
    "example.com/a.png",
    "iVBORw0KGgoAAAANSUhEUg==",
    "data:text/plain;base64,aGk=",
    "data:image/png,raw",
    "https:// spaced.example.com",
    "file:///etc/passwd",
  ])("%j is a 400 on image_url", (imageUrl) => {
    const error = rejection({ model: "gpt-image-2", image_url: [ref(0), imageUrl] });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "image_url" });
  });
});

describe("expected generation time", () => {
  it.each([
    [{ model: "gpt-image-2" }, 40_000],
    [{ model: "gpt-image-2", quality: "auto" }, 40_000],
    [{ model: "gpt-image-2", quality: "low" }, 15_000],
    [{ model: "gpt-image-2", quality: "medium" }, 40_000],
    [{ model: "gpt-image-2", quality: "standard" }, 40_000],
    [{ model: "gpt-image-2", quality: "high" }, 100_000],
    [{ model: "gpt-image-2", quality: "high", size: "3840x2160" }, 300_000],
    [{ model: "gpt-image-2", quality: "low", size: "2160x3840" }, 45_000],
    [{ model: "gpt-image-2", quality: "medium", size: "2048x1152" }, 60_000],
    [{ model: "nano-banana" }, 8_000],
    [{ model: "nano-banana", quality: "2K" }, 12_000],
    [{ model: "nano-banana", size: "3840x2160" }, 40_000],
    [{ model: "nano-banana-pro" }, 12_000],
    [{ model: "nano-banana-pro", quality: "hd" }, 14_000],
    [{ model: "nano-banana-pro", quality: "4K" }, 18_000],
    [{ model: "grok-imagine-image" }, 8_000],
    [{ model: "grok-imagine-image-pro" }, 10_000],
    [{ model: "grok-imagine-image-lite" }, 6_000],
    [{ model: "grok-imagine-image-edit" }, 8_000],
  ] as [Partial<ImageRequest>, number][])("%j → %i ms", (request, expected) => {
    expect(translate(request).expectedMs).toBe(expected);
  });
});

describe("qualities named like Object.prototype members are no table entries (regression)", () => {
  it.each([
    ["gpt-image-2", "constructor"],
    ["dall-e-2", "__proto__"],
    ["nano-banana", "constructor"],
    ["nano-banana-pro", "hasOwnProperty"],
    ["grok-imagine-image", "Constructor"],
  ])("%s with quality %j", (model, quality) => {
    const error = rejection({ model, quality });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: "quality" });
  });
});

describe("the answer's values, in OpenAI's vocabulary (issue 11)", () => {
  it.each([
    [
      { model: "gpt-image-1", size: "1536x864", quality: "high" },
      { size: "1536x864", quality: "high", exact: true },
    ],
    [
      { model: "gpt-image-1", quality: "hd" },
      { quality: "high", exact: true },
    ],
    [{ model: "gpt-image-1", quality: "auto" }, { exact: true }],
    [
      { model: "gpt-image-1", background: "transparent", output_format: "webp" },
      { background: "transparent", output_format: "webp", exact: true },
    ],
    [
      { model: "gpt-image-1", output_format: "jpeg", output_compression: 50 },
      { output_format: "jpeg", output_compression: 50, exact: true },
    ],
    [
      { model: "dall-e-2", size: "256x256" },
      { size: "256x256", exact: true },
    ],
    [
      { model: "dall-e-3", quality: "hd" },
      { size: "1024x1024", revised_prompt: prompt, exact: true },
    ],
    [{ model: "nano-banana", size: "16:9", quality: "2K" }, {}],
    [{ model: "nano-banana", size: "1536x1024", quality: "high" }, { size: "1536x1024" }],
    [{ model: "grok-imagine-image", size: "9:16" }, {}],
  ] as [Partial<ImageRequest>, Record<string, unknown>][])("%j → %j", (request, echo) => {
    expect(translate(request).echo).toEqual(echo);
  });

  it("dall-e-3 answers revise the prompt as sent upstream", () => {
    const { body, echo } = translate({ model: "DALL-E-3", prompt: "a red fox" });
    expect(echo.revised_prompt).toBe("a red fox");
    expect(body.prompt).toBe(echo.revised_prompt);
  });

  it.each(["dall-e-2", "gpt-image-1", "nano-banana"])("%s answers revise nothing", (model) => {
    expect(translate({ model }).echo).not.toHaveProperty("revised_prompt");
  });
});

describe("errors name the model as the caller wrote it (issue 11)", () => {
  it.each([
    [{ model: "dall-e-3", quality: "high" }, "quality", "gpt-image-1"],
    [{ model: "DALL-E-3", output_format: "png" }, "output_format", "gpt-image-1"],
    [{ model: "dall-e-3", background: "transparent" }, "background", "gpt-image-1"],
    [{ model: "dall-e-3", output_compression: 50 }, "output_compression", "gpt-image-1"],
    [
      { model: "dall-e-3", image_url: ["https://example.com/a.png", "https://example.com/b.png"] },
      "image_url",
      "at most 1",
    ],
    [{ model: "dall-e-2", quality: "ultra" }, "quality", "low, medium, high"],
    [{ model: "dall-e-2", size: "1792x1024" }, "size", "256x256, 512x512, 1024x1024"],
    [{ model: "gpt-image-1", size: "64x64" }, "size", "1024x1024"],
    [{ model: "dall-e-3", extra_body: { google: {} } }, "extra_body", "nano-banana"],
  ] as [Partial<ImageRequest>, string, string][])(
    "%j: a 400 on %s saying %s",
    (request, param, works) => {
      const error = rejection(request);
      expect(error).toMatchObject({ status: 400, param });
      expect(error.message).toContain(String(request.model));
      expect(error.message).toContain(works);
      expect(error.message).not.toMatch(/grok-imagine|gpt-image-2/);
    },
  );
});

describe("n per OpenAI model", () => {
  it("dall-e-3 makes one image per request, as at OpenAI; the others up to 10", () => {
    const err = (() => {
      try {
        translateRequest({ model: "dall-e-3", prompt: "p", n: 2 });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ param: "n", code: "integer_above_max_value", status: 400 });
    expect((err as Error).message).toContain("<= 1 for dall-e-3");
    expect(translateRequest({ model: "dall-e-3", prompt: "p", n: 1 }).n).toBe(1);
    expect(translateRequest({ model: "dall-e-2", prompt: "p", n: 10 }).n).toBe(10);
    expect(translateRequest({ model: "gpt-image-1", prompt: "p", n: 4 }).n).toBe(4);
    expect(translateRequest({ model: "nano-banana", prompt: "p", n: 4 }).n).toBe(4);
  });
});
