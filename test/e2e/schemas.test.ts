// Issue 11: what the gateway answers, checked against OpenAI's own published
// schemas (test/helpers/openai-schemas.ts), for every model name /v1/models
// lists × generation (b64_json, url), edit, streamed generation and streamed
// edit — as the bytes go over the wire (fetch, not the SDK, which would
// forgive). The simulator answers at once.
import { existsSync, readFileSync } from "node:fs";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveModel } from "../../src/catalog/models.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import {
  deviations,
  expectSchema,
  expectStreamSchema,
  schemaErrors,
  schemasPath,
  sharedSchemasPath,
} from "../helpers/openai-schemas.js";

let gw: TestGateway;
let names: string[] = [];
let picture: Buffer;

beforeAll(async () => {
  gw = await buildTestApp();
  const listing = await fetch(`${gw.url}/v1/models`, {
    headers: { authorization: `Bearer ${gw.apiKey}` },
  });
  names = ((await listing.json()) as { data: { id: string }[] }).data.map((model) => model.id);
  picture = await sharp({
    create: { width: 16, height: 16, channels: 3, background: { r: 1, g: 2, b: 3 } },
  })
    .png()
    .toBuffer();
});
afterAll(async () => {
  await gw?.close();
});

const auth = () => ({ authorization: `Bearer ${gw.apiKey}` });

async function generate(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${gw.url}/v1/images/generations`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ prompt: "a lighthouse at dusk", ...body }),
  });
}

async function edit(fields: Record<string, string>): Promise<Response> {
  const form = new FormData();
  form.append("image", new Blob([picture], { type: "image/png" }), "in.png");
  form.append("prompt", "make it night");
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return fetch(`${gw.url}/v1/images/edits`, { method: "POST", headers: auth(), body: form });
}

async function variation(fields: Record<string, string>): Promise<Response> {
  const form = new FormData();
  form.append("image", new Blob([picture], { type: "image/png" }), "in.png");
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return fetch(`${gw.url}/v1/images/variations`, { method: "POST", headers: auth(), body: form });
}

async function okJson(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as Record<string, unknown>;
}

async function okStream(response: Response): Promise<string> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return text;
}

// Every name the gateway lists (fixed here so each gets its own test; the
// first test checks this list is what /v1/models says).
const listed = [
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
];
const takesReferences = (name: string) => (resolveModel(name)?.spec.maxReferences ?? 0) > 0;

/** A size and quality each kind of name takes, as a typical caller sends them. */
function typical(name: string): Record<string, string> {
  switch (resolveModel(name)?.kind) {
    case "dall-e-2":
      return { size: "512x512", quality: "standard" };
    case "dall-e-3":
      return { size: "1792x1024", quality: "hd" };
    case "gpt-image":
      return { size: "1536x864", quality: "high" };
    default:
      return { size: "1792x1024", quality: "hd" };
  }
}

describe("OpenAI's schemas", () => {
  it("are the shared copy's, whenever shared/ is beside the clone", () => {
    if (!existsSync(sharedSchemasPath)) return;
    expect(readFileSync(schemasPath, "utf8")).toBe(readFileSync(sharedSchemasPath, "utf8"));
  });

  it("cover every model name /v1/models lists", () => {
    expect(names).toEqual(listed);
  });

  it("are OpenAI's, patched only where the issue says so", () => {
    expect(deviations.map((deviation) => `${deviation.schema}: ${deviation.change}`)).toEqual([
      "ImagesResponse: size: any WIDTHxHEIGHT instead of the enum 1024x1024 | 1024x1536 | 1536x1024",
      "ImageGenCompletedEvent: size: any WIDTHxHEIGHT or auto instead of the enum",
      "ImageGenCompletedEvent: usage: optional instead of required",
      "ImageEditCompletedEvent: size: any WIDTHxHEIGHT or auto instead of the enum",
      "ImageEditCompletedEvent: usage: optional instead of required",
    ]);
    // The checks bite: the old answers (issue 11's findings) are refused.
    expect(schemaErrors("ImagesResponse", { created: 1, data: [], size: "16:9" })).not.toEqual([]);
    expect(schemaErrors("ImagesResponse", { created: 1, data: [], quality: "2K" })).not.toEqual([]);
    expect(schemaErrors("ImagesResponse", { created: 1, data: [], quality: "auto" })).not.toEqual(
      [],
    );
    expect(
      schemaErrors("ImagesResponse", { created: 1, data: [], usage: { total_tokens: 0 } }),
    ).not.toEqual([]);
    expect(
      schemaErrors("ImageGenCompletedEvent", {
        type: "image_generation.completed",
        b64_json: "AAAA",
        created_at: 1,
        output_format: "png",
      }),
    ).toEqual(expect.arrayContaining([expect.stringContaining("size")]));
  });
});

describe.each(listed)("%s", (model) => {
  it("generation, b64_json, with a size and quality", async () => {
    const body = await okJson(
      await generate({ model, response_format: "b64_json", ...typical(model) }),
    );
    expectSchema("ImagesResponse", body);
    expect(body.data).toEqual([expect.objectContaining({ b64_json: expect.any(String) })]);
    // The simulator renders 8x8 whatever is asked: an OpenAI name gets the
    // size it asked (conformed), the upstream's names what was delivered.
    const asked = resolveModel(model)?.kind === undefined ? "8x8" : typical(model).size;
    expect(body.size).toBe(asked);
  });

  it("generation, url", async () => {
    const body = await okJson(await generate({ model, response_format: "url" }));
    expectSchema("ImagesResponse", body);
    expect(body.data).toEqual([expect.objectContaining({ url: expect.any(String) })]);
  });

  it("generation, streamed", async () => {
    const events = expectStreamSchema(
      await okStream(await generate({ model, stream: true, ...typical(model) })),
    );
    expect(events.map((event) => event.event)).toEqual(["image_generation.completed"]);
  });

  it.runIf(takesReferences(model))("edit", async () => {
    expectSchema("ImagesResponse", await okJson(await edit({ model })));
  });

  it.runIf(takesReferences(model))("variation", async () => {
    expectSchema("ImagesResponse", await okJson(await variation({ model })));
  });

  it.runIf(takesReferences(model))("edit, streamed", async () => {
    const events = expectStreamSchema(
      await okStream(await edit({ model, stream: "true", ...typical(model) })),
    );
    expect(events.map((event) => event.event)).toEqual(["image_edit.completed"]);
  });

  it("a refused request answers OpenAI's error body", async () => {
    const response = await generate({ model, size: "17x17" });
    expect(response.status).toBe(400);
    expectSchema("ErrorResponse", await response.json());
  });
});
