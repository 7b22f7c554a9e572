// The model table against UPSTREAM.md: ids, display names, families, reference
// limits, aliases, the default model and the legacy DALL·E flag.
import { describe, expect, it } from "vitest";
import {
  aliases,
  catalogEntries,
  defaultModelName,
  type Family,
  models,
  resolveModel,
} from "../../src/catalog/models.js";

// UPSTREAM.md "Models": display name, model id, max reference images.
const upstreamModels: [id: string, displayName: string, family: Family, maxReferences: number][] = [
  ["gpt-image-2", "GPT Image 2", "gpt-image", 14],
  ["gemini-3-pro-image-preview", "Nano Banana Pro", "gemini", 4],
  ["gemini-3.1-flash-image-preview", "Nano Banana 2", "gemini", 4],
  ["grok-imagine-image", "Grok Imagine Image", "grok", 1],
  ["grok-imagine-image-pro", "Grok Imagine Image Pro", "grok", 1],
  ["grok-imagine-image-lite", "Grok Imagine Image Lite", "grok", 0],
  ["grok-imagine-image-edit", "Grok Imagine Image Edit", "grok", 3],
];

// UPSTREAM.md "Aliases the upstream documents".
const upstreamAliases: [alias: string, id: string][] = [
  ["dall-e", "gpt-image-2"],
  ["dall-e-2", "gpt-image-2"],
  ["dall-e-3", "grok-imagine-image-pro"],
  ["nano-banana", "gemini-3.1-flash-image-preview"],
  ["nano-banana2", "gemini-3.1-flash-image-preview"],
  ["nano-banana-2", "gemini-3.1-flash-image-preview"],
  ["nano-banana-pro", "gemini-3-pro-image-preview"],
  ["grok-imagine-image-quality", "grok-imagine-image-pro"],
];

describe("model table", () => {
  it("holds exactly the seven upstream models, in the documented order", () => {
    expect(models.map((model) => model.id)).toEqual(upstreamModels.map(([id]) => id));
  });

  it.each(upstreamModels)("%s is %s (%s) with at most %i references", (id, name, family, max) => {
    const spec = models.find((model) => model.id === id);
    expect(spec).toMatchObject({ id, displayName: name, family, maxReferences: max });
    expect(spec?.typicalMs).toBeGreaterThan(0);
  });

  it("holds exactly the eight documented aliases", () => {
    expect(aliases).toEqual(Object.fromEntries(upstreamAliases));
  });
});

describe("resolveModel: model ids", () => {
  it.each(upstreamModels)("%s resolves to itself", (id, _name, family, max) => {
    expect(resolveModel(id)).toEqual({
      requested: id,
      spec: expect.objectContaining({ id, family, maxReferences: max }),
      legacyDalle: false,
    });
  });
});

describe("resolveModel: aliases", () => {
  it.each(upstreamAliases)("%s resolves to %s", (alias, id) => {
    const resolved = resolveModel(alias);
    expect(resolved?.requested).toBe(alias);
    expect(resolved?.spec.id).toBe(id);
  });

  it.each(upstreamAliases)("%s keeps the reference limit of %s", (alias, id) => {
    const limit = upstreamModels.find(([modelId]) => modelId === id)?.[3];
    expect(resolveModel(alias)?.spec.maxReferences).toBe(limit);
  });
});

describe("resolveModel: the legacy DALL·E flag", () => {
  it.each([
    ["dall-e", true],
    ["dall-e-2", true],
    ["dall-e-3", true],
    ["DALL-E-3", true],
    [" Dall-E-2 ", true],
    ["gpt-image-2", false],
    ["grok-imagine-image-pro", false],
    ["nano-banana", false],
    ["grok-imagine-image-quality", false],
  ])("%j → legacyDalle %s", (name, legacy) => {
    expect(resolveModel(name)?.legacyDalle).toBe(legacy);
  });
});

describe("resolveModel: spelling", () => {
  it.each([
    ["GPT-IMAGE-2", "gpt-image-2"],
    ["  gpt-image-2  ", "gpt-image-2"],
    ["Nano-Banana-Pro", "gemini-3-pro-image-preview"],
    ["NANO-BANANA2", "gemini-3.1-flash-image-preview"],
    ["Gemini-3.1-Flash-Image-Preview", "gemini-3.1-flash-image-preview"],
    ["\tgrok-imagine-image-lite\n", "grok-imagine-image-lite"],
  ])("%j resolves to %s and keeps the name as sent", (name, id) => {
    const resolved = resolveModel(name);
    expect(resolved?.spec.id).toBe(id);
    expect(resolved?.requested).toBe(name);
  });
});

describe("resolveModel: unknown names", () => {
  it.each([
    "",
    "   ",
    "gpt-image-1",
    "dall-e-4",
    "dalle-3",
    "nano-banana-3",
    "gemini-3-pro-image",
    "grok-imagine",
    "grok-imagine-image-max",
    "gpt-image-2-hd",
    "constructor",
    "__proto__",
    "toString",
    "hasOwnProperty",
  ])("%j is unknown", (name) => {
    expect(resolveModel(name)).toBeUndefined();
  });
});

describe("default model", () => {
  it("is dall-e-2, as at OpenAI", () => {
    expect(defaultModelName).toBe("dall-e-2");
  });

  it("resolves to gpt-image-2 with DALL·E defaults", () => {
    expect(resolveModel(defaultModelName)).toEqual({
      requested: "dall-e-2",
      spec: expect.objectContaining({ id: "gpt-image-2" }),
      legacyDalle: true,
    });
  });
});

describe("catalogEntries", () => {
  it("lists the model ids first, then every alias with the id it stands for", () => {
    expect(catalogEntries()).toEqual([
      ...upstreamModels.map(([id]) => ({ id })),
      ...upstreamAliases.map(([id, aliasOf]) => ({ id, aliasOf })),
    ]);
  });

  it.each(catalogEntries().map((entry) => [entry.id, entry.aliasOf ?? entry.id] as const))(
    "every listed name resolves: %s → %s",
    (name, id) => {
      expect(resolveModel(name)?.spec.id).toBe(id);
    },
  );
});
