// images.edit with a mask (OpenAI's semantics over an upstream that takes
// none): the mask is checked before anything is submitted, the upstream
// repaints the image, and its result is laid over the original through the
// mask, so that pixels where the mask is opaque stay the caller's.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { toFile } from "openai";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { leftHalfMask, pixel, red, solid } from "../helpers/images.js";
import { storedImage, storedImages } from "../helpers/stored-images.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

async function edit(model: string, mask: Buffer, size?: "1024x1024") {
  return gw.client.images.edit({
    model,
    prompt: "paint the sky",
    image: await toFile(await solid(64, 64, red), "in.png", { type: "image/png" }),
    mask: await toFile(mask, "mask.png", { type: "image/png" }),
    ...(size === undefined ? {} : { size }),
  });
}

describe("images.edit with a mask", () => {
  it("keeps the original where the mask is opaque and takes the upstream's image elsewhere", async () => {
    gw = await buildTestApp();
    const result = await edit("nano-banana", await leftHalfMask());
    const bytes = Buffer.from(result.data?.[0]?.b64_json ?? "", "base64");
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);

    const [submit] = gw.sim.submits;
    const upstream = gw.sim.image(submit?.taskId ?? "", 0).bytes;
    const edited = await pixel(upstream, 0, 0);
    expect(edited).not.toEqual(red);
    expect(await pixel(bytes, 48, 10)).toEqual(red);
    expect(await pixel(bytes, 63, 63)).toEqual(red);
    expect(await pixel(bytes, 5, 10)).toEqual(edited);
    expect(await pixel(bytes, 31, 63)).toEqual(edited);

    // The image itself goes upstream, with the mask's area named in the prompt.
    const references = await gw.sim.references(submit?.taskId ?? "");
    expect(references).toHaveLength(1);
    expect(submit?.prompt).toBe(
      "paint the sky\n\nEdit only the area from 0% to 50% across and 0% to 100% down the image (from its top left corner); keep everything else unchanged.",
    );

    // The kept image and mask are gone once the answer is made: only the result is left.
    await expect.poll(() => storedImages(gw.config.dataDir)).toHaveLength(1);
    expect(await readdir(join(gw.config.dataDir, "uploads"))).toEqual([]);
  });

  it("composites first, then delivers the size an OpenAI model was asked for", async () => {
    gw = await buildTestApp();
    const result = await edit("gpt-image-2", await leftHalfMask(), "1024x1024");
    const bytes = Buffer.from(result.data?.[0]?.b64_json ?? "", "base64");
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
    expect(result.size).toBe("1024x1024");
    const [submit] = gw.sim.submits;
    const edited = await pixel(gw.sim.image(submit?.taskId ?? "", 0).bytes, 0, 0);
    expect(await pixel(bytes, 900, 500)).toEqual(red);
    expect(await pixel(bytes, 100, 500)).toEqual(edited);
    await expect.poll(() => storedImages(gw.config.dataDir)).toHaveLength(1);
  });

  it("composites after a restart with the image and mask kept for the task", {
    timeout: 60_000,
  }, async () => {
    gw = await buildTestApp();
    const abort = new AbortController();
    const request = gw.client.images.edit(
      {
        model: "nano-banana",
        prompt: "paint the sky [sim:duration=8000]",
        image: await toFile(await solid(64, 64, red), "in.png", { type: "image/png" }),
        mask: await toFile(await leftHalfMask(), "mask.png", { type: "image/png" }),
      },
      { signal: abort.signal },
    );
    request.catch(() => {});
    await gw.sim.waitForSubmits(1);
    // The caller leaves and the gateway restarts while the task runs upstream.
    abort.abort();
    expect(await storedImages(gw.config.dataDir)).toHaveLength(2);
    await gw.app.close();
    const stoppedAt = Date.now();
    await gw.restart();
    // The resumed task's result replaces the kept image and mask.
    await expect
      .poll(async () => (await storedImages(gw.config.dataDir)).length, {
        timeout: 30_000,
        interval: 50,
      })
      .toBe(1);
    const [name] = await storedImages(gw.config.dataDir);
    const bytes = await storedImage(gw.config.dataDir, name ?? "");
    const [submit] = gw.sim.submits;
    const edited = await pixel(gw.sim.image(submit?.taskId ?? "", 0).bytes, 0, 0);
    expect(await pixel(bytes, 48, 10)).toEqual(red);
    expect(await pixel(bytes, 5, 10)).toEqual(edited);
    expect(gw.sim.submits).toHaveLength(1);
    // The result was fetched by the restarted gateway: the task was left running.
    const downloads = gw.sim.requests.filter((r) => r.route === "download");
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((r) => r.at >= stoppedAt)).toBe(true);
  });

  it.each([
    ["of another size", () => leftHalfMask(32), "got 32x32."],
    ["in JPEG", () => leftHalfMask(64, "jpeg"), "got a JPEG image."],
    [
      "without transparency",
      () => solid(64, 64, [0, 0, 0]),
      "got a 64x64 PNG without transparency.",
    ],
  ])("refuses a mask %s with a 400 on mask, submitting nothing", async (_name, makeMask, got) => {
    gw = await buildTestApp();
    const err = await apiError(edit("gpt-image-2", await makeMask()));
    expect(err.status).toBe(400);
    expect(err.param).toBe("mask");
    expect(err.code).toBe("invalid_mask");
    expect(err.message).toContain(
      `The mask must be a PNG with transparency the same size as the image (64x64); ${got}`,
    );
    expect(gw.sim.submits).toHaveLength(0);
    expect(await readdir(join(gw.config.dataDir, "uploads"))).toEqual([]);
    // Nothing recorded, nothing charged.
    const usage = await gw.app.inject({
      method: "GET",
      url: `/admin/tenants/${gw.tenantId}/usage`,
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(usage.statusCode).toBe(200);
    expect(usage.json().totals.requests).toBe(0);
  });

  it("refuses every mask with IMAGEGATE_MASKS=refuse, as before", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MASKS: "refuse" } });
    const err = await apiError(edit("gpt-image-2", await leftHalfMask()));
    expect(err.status).toBe(400);
    expect(err.param).toBe("mask");
    expect(err.code).toBe("mask_not_supported");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("takes a mask on a JSON edit too (data: URIs), composited like a multipart one", async () => {
    gw = await buildTestApp();
    const mask = `data:image/png;base64,${(await leftHalfMask()).toString("base64")}`;
    const image = `data:image/png;base64,${(await solid(64, 64, red)).toString("base64")}`;
    const json = (body: Record<string, unknown>) =>
      gw.app.inject({
        method: "POST",
        url: "/v1/images/edits",
        headers: { authorization: `Bearer ${gw.apiKey}` },
        payload: { model: "gpt-image-2", prompt: "p", images: [{ image_url: image }], ...body },
      });
    const response = await json({ mask: { image_url: mask }, response_format: "b64_json" });
    expect(response.statusCode).toBe(200);
    const bytes = Buffer.from(response.json().data[0].b64_json, "base64");
    const [submit] = gw.sim.submits;
    const edited = await pixel(gw.sim.image(submit?.taskId ?? "", 0).bytes, 0, 0);
    expect(await pixel(bytes, 48, 10)).toEqual(red);
    expect(await pixel(bytes, 5, 10)).toEqual(edited);
    await expect.poll(() => readdir(join(gw.config.dataDir, "uploads"))).toEqual([]);

    // A mask given as a URL cannot be checked against the image: a 400 on it.
    const byUrl = await json({ mask: { image_url: "https://example.com/mask.png" } });
    expect(byUrl.statusCode).toBe(400);
    expect(byUrl.json().error.param).toBe("mask.image_url");
    // A mask of another size: the imaging module's 400 on mask.
    const small = `data:image/png;base64,${(await leftHalfMask(32)).toString("base64")}`;
    const wrong = await json({ mask: { image_url: small } });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.param).toBe("mask");
    expect(gw.sim.submits).toHaveLength(1);
    expect(await readdir(join(gw.config.dataDir, "uploads"))).toEqual([]);
  });
});
