// The model table against UPSTREAM.md and OPENAI.md: ids, display names,
// families, reference limits, aliases, OpenAI's names and kinds, the default model.
import { describe, expect, it } from "vitest";
import {
  aliases,
  catalogEntries,
  defaultModelName,
  type Family,
  models,
  type OpenAIKind,
  openaiAliases,
  openaiKinds,
  resolveModel,
  upstreamAliases,
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
const upstreamAliasList: [alias: string, id: string][] = [
  ["dall-e", "gpt-image-2"],
  ["dall-e-2", "gpt-image-2"],
  ["dall-e-3", "grok-imagine-image-pro"],
  ["nano-banana", "gemini-3.1-flash-image-preview"],
  ["nano-banana2", "gemini-3.1-flash-image-preview"],
  ["nano-banana-2", "gemini-3.1-flash-image-preview"],
  ["nano-banana-pro", "gemini-3-pro-image-preview"],
  ["grok-imagine-image-quality", "grok-imagine-image-pro"],
];

// OPENAI.md "Model names OpenAI's API takes today": the upstream model each
// runs on and which OpenAI model it is.
const openaiNames: [name: string, id: string, kind: OpenAIKind][] = [
  ["dall-e-2", "gpt-image-2", "dall-e-2"],
  ["dall-e-3", "grok-imagine-image-pro", "dall-e-3"],
  ["gpt-image-1", "gpt-image-2", "gpt-image"],
  ["gpt-image-1-mini", "gpt-image-2", "gpt-image"],
  ["gpt-image-1.5", "gpt-image-2", "gpt-image"],
  ["gpt-image-2", "gpt-image-2", "gpt-image"],
  ["gpt-image-2-2026-04-21", "gpt-image-2", "gpt-image"],
  ["chatgpt-image-latest", "gpt-image-2", "gpt-image"],
];
const newOpenaiAliases = openaiNames.filter(
  ([name]) => !(name in upstreamAliases) && name !== "gpt-image-2",
);

describe("model table", () => {
  it("holds exactly the seven upstream models, in the documented order", () => {
    expect(models.map((model) => model.id)).toEqual(upstreamModels.map(([id]) => id));
  });

  it.each(upstreamModels)("%s is %s (%s) with at most %i references", (id, name, family, max) => {
    const spec = models.find((model) => model.id === id);
    expect(spec).toMatchObject({ id, displayName: name, family, maxReferences: max });
    expect(spec?.typicalMs).toBeGreaterThan(0);
  });

  it("holds exactly the eight aliases the upstream documents", () => {
    expect({ ...upstreamAliases }).toEqual(Object.fromEntries(upstreamAliasList));
  });

  it("adds OpenAI's GPT image names the upstream does not alias, all on gpt-image-2", () => {
    expect({ ...openaiAliases }).toEqual(
      Object.fromEntries(newOpenaiAliases.map(([name, id]) => [name, id])),
    );
    expect({ ...aliases }).toEqual({ ...upstreamAliases, ...openaiAliases });
  });

  it("names the kind of every OpenAI name, and of dall-e (DALL·E 2 for legacy code)", () => {
    expect({ ...openaiKinds }).toEqual({
      "dall-e": "dall-e-2",
      ...Object.fromEntries(openaiNames.map(([name, , kind]) => [name, kind])),
    });
  });
});

describe("resolveModel: OpenAI's names (issue 11)", () => {
  it.each(openaiNames)("%s runs on %s as %s", (name, id, kind) => {
    expect(resolveModel(name)).toEqual({
      requested: name,
      name,
      spec: expect.objectContaining({ id }),
      kind,
    });
  });

  it("names the model as the caller wrote it, trimmed", () => {
    expect(resolveModel("  GPT-Image-1 ")).toMatchObject({
      requested: "  GPT-Image-1 ",
      name: "GPT-Image-1",
      kind: "gpt-image",
    });
  });
});

describe("resolveModel: model ids", () => {
  it.each(upstreamModels)("%s resolves to itself", (id, _name, family, max) => {
    expect(resolveModel(id)).toEqual({
      requested: id,
      name: id,
      spec: expect.objectContaining({ id, family, maxReferences: max }),
      kind: id === "gpt-image-2" ? "gpt-image" : undefined,
    });
  });
});

describe("resolveModel: aliases", () => {
  it.each(upstreamAliasList)("%s resolves to %s", (alias, id) => {
    const resolved = resolveModel(alias);
    expect(resolved?.requested).toBe(alias);
    expect(resolved?.spec.id).toBe(id);
  });

  it.each(upstreamAliasList)("%s keeps the reference limit of %s", (alias, id) => {
    const limit = upstreamModels.find(([modelId]) => modelId === id)?.[3];
    expect(resolveModel(alias)?.spec.maxReferences).toBe(limit);
  });
});

describe("resolveModel: the OpenAI kind", () => {
  it.each([
    ["dall-e", "dall-e-2"],
    ["dall-e-2", "dall-e-2"],
    ["dall-e-3", "dall-e-3"],
    ["DALL-E-3", "dall-e-3"],
    [" Dall-E-2 ", "dall-e-2"],
    ["gpt-image-2", "gpt-image"],
    ["GPT-IMAGE-1", "gpt-image"],
    ["grok-imagine-image-pro", undefined],
    ["nano-banana", undefined],
    ["grok-imagine-image-quality", undefined],
  ])("%j → kind %s", (name, kind) => {
    expect(resolveModel(name)?.kind).toBe(kind);
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
    "gpt-image-3",
    "gpt-image-1-max",
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
      name: "dall-e-2",
      spec: expect.objectContaining({ id: "gpt-image-2" }),
      kind: "dall-e-2",
    });
  });
});

describe("catalogEntries", () => {
  it("lists the model ids first, then every alias with the id it stands for", () => {
    const kind = (id: string) => (openaiKinds[id] === undefined ? {} : { kind: openaiKinds[id] });
    expect(catalogEntries()).toEqual([
      ...upstreamModels.map(([id]) => ({ id, ...kind(id) })),
      ...upstreamAliasList.map(([id, aliasOf]) => ({ id, aliasOf, ...kind(id) })),
      ...newOpenaiAliases.map(([id, aliasOf]) => ({ id, aliasOf, ...kind(id) })),
    ]);
  });

  it("lists every OpenAI image model name (issue 11)", () => {
    const listed = catalogEntries().map((entry) => entry.id);
    expect(listed).toEqual(expect.arrayContaining(openaiNames.map(([name]) => name)));
  });

  it.each(catalogEntries().map((entry) => [entry.id, entry.aliasOf ?? entry.id] as const))(
    "every listed name resolves: %s → %s",
    (name, id) => {
      expect(resolveModel(name)?.spec.id).toBe(id);
    },
  );
});
