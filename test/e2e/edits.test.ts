// images.edit and images.createVariation with the OpenAI SDK, multipart as it
// sends them, and JSON edits: references reach the upstream as `image_url`
// (checked by the simulator, which fetches URLs without a key as the upstream would).
import { randomBytes } from "node:crypto";
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { variationPrompt } from "../../src/http/routes/images.js";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (size = 200) => Buffer.concat([pngSignature, randomBytes(size)]);
const jpeg = (size = 200) =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(size)]);

describe("images.edit (multipart)", () => {
  it("sends one uploaded image as a data: URI string by default on a private address", async () => {
    gw = await buildTestApp();
    const image = png();
    const result = await gw.client.images.edit({
      model: "gpt-image-2",
      prompt: "make it blue",
      image: await toFile(image, "in.png", { type: "image/png" }),
      size: "1024x1024",
      n: 1,
    });
    expect(result.data?.[0]?.b64_json).toBeTruthy();
    const [submit] = gw.sim.submits;
    expect(submit?.prompt).toBe("make it blue");
    expect(submit?.body.size).toBe("1024x1024");
    expect(typeof submit?.body.image_url).toBe("string");
    const references = await gw.sim.references(submit?.taskId ?? "");
    expect(references).toHaveLength(1);
    expect(references[0]?.form).toBe("data");
    expect(references[0]?.bytes.equals(image)).toBe(true);
  });

  it("sends several images (image[] on the wire) as a list, in order", async () => {
    gw = await buildTestApp();
    const images = [png(), jpeg(), png(300)];
    await gw.client.images.edit({
      model: "nano-banana",
      prompt: "combine them",
      image: await Promise.all(images.map((bytes, i) => toFile(bytes, `in${i}.png`))),
    });
    const [submit] = gw.sim.submits;
    expect(Array.isArray(submit?.body.image_url)).toBe(true);
    const references = await gw.sim.references(submit?.taskId ?? "");
    expect(references.map((reference) => reference.imageType)).toEqual([
      "image/png",
      "image/jpeg",
      "image/png",
    ]);
    expect(references.map((reference) => reference.bytes)).toEqual(images);
  });

  it("delivers uploads as short-lived signed gateway URLs the upstream fetches without a key", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_REFERENCE_DELIVERY: "url" } });
    const image = png(5000);
    await gw.client.images.edit({
      model: "gpt-image-2",
      prompt: "p",
      image: await toFile(image, "in.png"),
    });
    const [submit] = gw.sim.submits;
    expect(String(submit?.body.image_url)).toMatch(
      new RegExp(`^${gw.url}/files/images/[A-Za-z0-9_-]{22}\\.png\\?expires=\\d+&signature=`),
    );
    const [reference] = await gw.sim.references(submit?.taskId ?? "");
    expect(reference).toMatchObject({ form: "url", status: 200, imageType: "image/png" });
    expect(reference?.bytes.equals(image)).toBe(true);
  });

  it.each([
    ["grok-imagine-image", 2, "takes at most 1"],
    ["grok-imagine-image-edit", 4, "takes at most 3"],
    ["grok-imagine-image-lite", 1, "does not take reference images"],
  ])(
    "refuses more images than %s takes (%i) with a 400 on image, submitting nothing",
    async (model, count, text) => {
      gw = await buildTestApp();
      const err = await apiError(
        gw.client.images.edit({
          model,
          prompt: "p",
          image: await Promise.all(
            Array.from({ length: count }, (_, i) => toFile(png(), `${i}.png`)),
          ),
        }),
      );
      expect(err.status).toBe(400);
      expect(err.param).toBe("image");
      expect(err.message).toContain(text);
      expect(gw.sim.submits).toHaveLength(0);
    },
  );

  it("refuses a text file named .png, judged by its bytes", async () => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.edit({
        model: "gpt-image-2",
        prompt: "p",
        image: await toFile(Buffer.from("hello, I am not an image"), "fake.png", {
          type: "image/png",
        }),
      }),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe("image");
    expect(err.code).toBe("invalid_image_format");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("refuses an oversized file with a 413 naming it, submitting nothing", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_UPLOAD_MB: "1" } });
    const err = await apiError(
      gw.client.images.edit({
        model: "gpt-image-2",
        prompt: "p",
        image: [await toFile(png(), "ok.png"), await toFile(png(1_500_000), "big.png")],
      }),
    );
    expect(err.status).toBe(413);
    expect(err.param).toBe("image[1]");
    expect(err.code).toBe("file_too_large");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("checks a mask before submitting: an image that cannot be read is a 400 on image", async () => {
    // Masks that work are in masks.test.ts; here the mask can never be applied.
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.edit({
        model: "gpt-image-2",
        prompt: "p",
        image: await toFile(png(), "in.png"),
        mask: await toFile(png(), "mask.png"),
      }),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe("image");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("refuses a mask with a 400 naming mask under IMAGEGATE_MASKS=refuse", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MASKS: "refuse" } });
    const err = await apiError(
      gw.client.images.edit({
        model: "gpt-image-2",
        prompt: "p",
        image: await toFile(png(), "in.png"),
        mask: await toFile(png(), "mask.png"),
      }),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe("mask");
    expect(err.code).toBe("mask_not_supported");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("checks the other fields like generations (multipart numbers arrive as strings)", async () => {
    gw = await buildTestApp();
    const image = await toFile(png(), "in.png");
    const badN = await apiError(
      gw.client.images.edit({ model: "gpt-image-2", prompt: "p", image, n: 11 }),
    );
    expect(badN.param).toBe("n");
    const noImage = await gw.app.inject({
      method: "POST",
      url: "/v1/images/edits",
      headers: {
        authorization: `Bearer ${gw.apiKey}`,
        "content-type": "multipart/form-data; boundary=X",
      },
      payload: '--X\r\nContent-Disposition: form-data; name="prompt"\r\n\r\np\r\n--X--\r\n',
    });
    expect(noImage.statusCode).toBe(400);
    expect(noImage.json()).toMatchObject({
      error: { param: "image", code: "missing_required_parameter" },
    });
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("streams image_edit events with stream: true", async () => {
    gw = await buildTestApp();
    const stream = await gw.client.images.edit({
      model: "gpt-image-2",
      prompt: "p",
      image: await toFile(png(), "in.png"),
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(["image_edit.completed"]);
  });
});

describe("images.edit retried while its uploads are being stored", () => {
  it("joins the generation instead of answering early (regression)", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_REFERENCE_DELIVERY: "url" } });
    const client = new OpenAI({
      apiKey: gw.apiKey,
      baseURL: `${gw.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { "idempotency-key": "edit-1" },
    });
    const image = png(400_000);
    const calls = await Promise.all(
      [1, 2, 3].map(async () =>
        client.images
          .edit({ model: "gpt-image-2", prompt: "p", image: await toFile(image, "in.png") })
          .withResponse(),
      ),
    );
    const ids = calls.map((call) => call.response.headers.get("x-imagegate-task-id"));
    expect(new Set(ids).size).toBe(1);
    expect(calls.every((call) => call.data.data?.length === 1)).toBe(true);
    expect(gw.sim.submits).toHaveLength(1);
  });
});

describe("images.edit (JSON)", () => {
  it("takes references as URLs, e.g. a re-hosted result of an earlier generation", async () => {
    gw = await buildTestApp();
    const first = await gw.client.images.generate({ model: "dall-e-2", prompt: "a cat" });
    const url = first.data?.[0]?.url ?? "";
    const response = await fetch(`${gw.url}/v1/images/edits`, {
      method: "POST",
      headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-image-2",
        prompt: "now in blue",
        images: [{ image_url: url }],
      }),
    });
    expect(response.status).toBe(200);
    const second = gw.sim.submits[1];
    expect(second?.body.image_url).toBe(url);
    const [reference] = await gw.sim.references(second?.taskId ?? "");
    // The re-hosted (conformed) result is what the upstream fetched.
    const served = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(reference?.bytes.equals(served)).toBe(true);
  });

  it.each([
    [{ images: [{ file_id: "file-123" }] }, "images[0].file_id"],
    [
      {
        images: [{ image_url: `data:image/png;base64,${Buffer.from("text").toString("base64")}` }],
      },
      "images[0].image_url",
    ],
    [{ images: [{ image_url: "ftp://example.com/a.png" }] }, "image"],
    [{ images: [] }, "images"],
    [
      {
        images: [{ image_url: "https://example.com/a.png" }],
        mask: { image_url: "https://example.com/m.png" },
      },
      // A masked edit needs the image's bytes (to composite): a data: URI.
      "images[0].image_url",
    ],
  ])("refuses %j with a 400 on %s", async (fields, param) => {
    gw = await buildTestApp();
    const response = await gw.app.inject({
      method: "POST",
      url: "/v1/images/edits",
      headers: { authorization: `Bearer ${gw.apiKey}` },
      payload: { model: "gpt-image-2", prompt: "p", ...fields },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.param).toBe(param);
    expect(gw.sim.submits).toHaveLength(0);
  });
});

describe("image_url on /v1/images/generations", () => {
  it("is checked the same way: count, scheme, and the bytes of data: URIs", async () => {
    gw = await buildTestApp();
    const text = `data:image/png;base64,${Buffer.from("not an image").toString("base64")}`;
    const notImage = await apiError(
      gw.client.images.generate({ model: "gpt-image-2", prompt: "p", image_url: text } as never),
    );
    expect(notImage.param).toBe("image_url");
    const tooMany = await apiError(
      gw.client.images.generate({
        model: "grok-imagine-image",
        prompt: "p",
        image_url: ["https://example.com/a.png", "https://example.com/b.png"],
      } as never),
    );
    expect(tooMany.param).toBe("image_url");
    expect(gw.sim.submits).toHaveLength(0);
    const ok = `data:image/png;base64,${png().toString("base64")}`;
    await gw.client.images.generate({ model: "gpt-image-2", prompt: "p", image_url: ok } as never);
    expect(gw.sim.submits[0]?.body.image_url).toBe(ok);
  });
});

describe("images.createVariation", () => {
  it("runs as a reference-image generation on the variation model, answering like OpenAI", async () => {
    gw = await buildTestApp();
    const image = png();
    const result = await gw.client.images.createVariation({
      image: await toFile(image, "in.png"),
      n: 2,
      size: "512x512",
    });
    // DALL·E 2's default format: a re-hosted URL, fetchable without a key.
    expect(result.data).toHaveLength(2);
    const fetched = await fetch(result.data?.[0]?.url ?? "");
    expect(fetched.status).toBe(200);
    const [submit] = gw.sim.submits;
    expect(submit).toMatchObject({ model: "gpt-image-2", prompt: variationPrompt, n: 2 });
    expect(submit?.body.size).toBe("1024x1024");
    const [reference] = await gw.sim.references(submit?.taskId ?? "");
    expect(reference?.bytes.equals(image)).toBe(true);
  });

  it("takes exactly one image file", async () => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.createVariation({
        image: await toFile(Buffer.from("GIF89a not allowed"), "in.gif"),
      }),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe("image");
    const json = await gw.app.inject({
      method: "POST",
      url: "/v1/images/variations",
      headers: { authorization: `Bearer ${gw.apiKey}` },
      payload: { image: "x" },
    });
    expect(json.statusCode).toBe(400);
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("applies tenant limits (the model allowlist) before anything is submitted", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "no-gpt", models: ["nano-banana"] });
    const err = await apiError(
      gw.clientWith(tenant.apiKey).images.createVariation({ image: await toFile(png(), "in.png") }),
    );
    expect(err.status).toBe(403);
    expect(gw.sim.submits).toHaveLength(0);
  });
});
