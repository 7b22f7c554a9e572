// The operator's model map (IMAGEGATE_MODELS_FILE): the file's schema, one
// line per problem naming the file, the entry and the field, and the
// effective map the built-in table and the file make together.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtInModelMap, createModelMap, parseModelFile } from "../../src/catalog/model-map.js";
import { catalogEntries } from "../../src/catalog/models.js";
import { translateRequest } from "../../src/catalog/translate.js";
import { ConfigError, loadConfig } from "../../src/config.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-models-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function modelsFile(content: unknown, extension = "json"): Promise<string> {
  fileCount += 1;
  const path = join(dir, `models-${fileCount}.${extension}`);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/** loadConfig with the model file; the ConfigError's lines. */
function configLines(path: string): string[] {
  try {
    loadConfig({ IMAGEGATE_MODELS_FILE: path });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe("IMAGEGATE_MODELS_FILE");
    return (err as Error).message.split("\n");
  }
  throw new Error(`loadConfig accepted ${path}`);
}

const houseStyle = {
  models: {
    "house-style": {
      upstream: "gemini-3.1-flash-image-preview",
      defaults: { size: "1536x1024", response_format: "b64_json" },
    },
    "dall-e-3": { hidden: true },
    "gpt-image-1": { defaults: { quality: "low" }, max_references: 2 },
  },
};

describe("the built-in map", () => {
  it("lists what catalogEntries lists, in the same order", () => {
    expect(builtInModelMap.entries()).toEqual(catalogEntries());
    expect(createModelMap({}).entries()).toEqual(catalogEntries());
  });

  it("marks every row built-in", () => {
    expect(builtInModelMap.rows().every((row) => row.source === "built-in")).toBe(true);
  });
});

describe("a good model file", () => {
  it("loads through loadConfig and adds, overrides and hides names", async () => {
    const config = loadConfig({ IMAGEGATE_MODELS_FILE: await modelsFile(houseStyle) });
    expect(config.modelOverrides).toEqual(houseStyle.models);
    const map = createModelMap(config.modelOverrides);

    const house = map.resolve("House-Style");
    expect(house?.spec.id).toBe("gemini-3.1-flash-image-preview");
    expect(house?.kind).toBeUndefined();
    expect(house?.defaults).toEqual({ size: "1536x1024", response_format: "b64_json" });

    expect(map.resolve("dall-e-3")).toBeUndefined();
    expect(map.entries().map((entry) => entry.id)).not.toContain("dall-e-3");
    expect(map.entries()).toContainEqual({
      id: "house-style",
      aliasOf: "gemini-3.1-flash-image-preview",
    });
    // The upstream model behind a hidden name is still reachable by its other names.
    expect(map.resolve("grok-imagine-image-quality")?.spec.id).toBe("grok-imagine-image-pro");

    const gpt1 = map.resolve("gpt-image-1");
    expect(gpt1?.kind).toBe("gpt-image");
    expect(gpt1?.spec.maxReferences).toBe(2);
    expect(map.resolve("gpt-image-2")?.spec.maxReferences).toBe(14);

    expect(map.rows().find((row) => row.name === "dall-e-3")).toMatchObject({
      hidden: true,
      upstream: "grok-imagine-image-pro",
      source: "file",
    });
  });

  it("applies a name's defaults under what the request says", () => {
    const map = createModelMap(parseOk(houseStyle));
    const plain = translateRequest({ prompt: "a cat", model: "house-style" }, { models: map });
    expect(plain.body.size).toBe("3:2");
    expect(plain.responseFormat).toBe("b64_json");
    const asked = translateRequest(
      { prompt: "a cat", model: "house-style", size: "1024x1024", response_format: "url" },
      { models: map },
    );
    expect(asked.body.size).toBe("1:1");
    expect(asked.responseFormat).toBe("url");
  });

  it("leaves the built-in map alone", () => {
    createModelMap(parseOk(houseStyle));
    expect(builtInModelMap.resolve("dall-e-3")?.spec.id).toBe("grok-imagine-image-pro");
    expect(builtInModelMap.resolve("house-style")).toBeUndefined();
  });
});

function parseOk(data: unknown) {
  const parsed = parseModelFile(data);
  if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
  return parsed.overrides;
}

describe("a bad model file stops the start with one line per problem", () => {
  it("names an unknown upstream id, with the entry and the field", async () => {
    const path = await modelsFile({ models: { "house-style": { upstream: "gpt-9" } } });
    const lines = configLines(path);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`IMAGEGATE_MODELS_FILE ${path}: models."house-style".upstream:`);
    expect(lines[0]).toContain("unknown upstream model 'gpt-9'");
    expect(lines[0]).toContain("gemini-3.1-flash-image-preview");
  });

  it("gives every bad field its own line", async () => {
    const path = await modelsFile({
      models: {
        a: { upstream: 42 },
        b: { upstream: "gpt-image-2", hidden: "yes" },
        c: { upstream: "gpt-image-2", defaults: { n: 0, response_format: "png" } },
        d: { upstream: "gpt-image-2", max_refs: 3 },
      },
    });
    const lines = configLines(path);
    expect(lines).toHaveLength(5);
    for (const line of lines)
      expect(line).toMatch(/^invalid configuration: IMAGEGATE_MODELS_FILE /);
    expect(lines[0]).toContain("models.a.upstream:");
    expect(lines[1]).toContain("models.b.hidden:");
    expect(lines.some((line) => line.includes("models.c.defaults.n:"))).toBe(true);
    expect(lines.some((line) => line.includes("models.c.defaults.response_format:"))).toBe(true);
    expect(lines.some((line) => line.includes("models.d:") && line.includes("max_refs"))).toBe(
      true,
    );
  });

  it("requires an upstream for a new name", async () => {
    const lines = configLines(await modelsFile({ models: { "house-style": { hidden: false } } }));
    expect(lines[0]).toContain(`models."house-style".upstream: is required`);
  });

  it("refuses a default size the model cannot make", async () => {
    const lines = configLines(
      await modelsFile({ models: { "dall-e-2": { defaults: { size: "1792x1024" } } } }),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`models."dall-e-2".defaults.size:`);
  });

  it("refuses more references than the upstream model takes", async () => {
    const lines = configLines(await modelsFile({ models: { "dall-e-3": { max_references: 5 } } }));
    expect(lines[0]).toContain(`models."dall-e-3".max_references: grok-imagine-image-pro`);
  });

  it("refuses a name callers could not write", async () => {
    const lines = configLines(
      await modelsFile({ models: { "House Style": { upstream: "gpt-image-2" } } }),
    );
    expect(lines[0]).toContain(`models."House Style": a name is lowercase`);
  });

  it("reads YAML as well as JSON (.yaml, .yml)", async () => {
    const path = await modelsFile(
      [
        "models:",
        "  house-style:",
        "    upstream: gemini-3.1-flash-image-preview",
        "    defaults:",
        "      size: 1536x1024",
        "  dall-e-3:",
        "    hidden: true",
        "",
      ].join("\n"),
      "yaml",
    );
    const config = loadConfig({ IMAGEGATE_MODELS_FILE: path });
    expect(config.modelOverrides).toEqual({
      "house-style": {
        upstream: "gemini-3.1-flash-image-preview",
        defaults: { size: "1536x1024" },
      },
      "dall-e-3": { hidden: true },
    });
    const bad = await modelsFile("models:\n  house-style:\n    upstream: gemini-9\n", "yml");
    expect(configLines(bad)[0]).toContain(
      `models."house-style".upstream: unknown upstream model 'gemini-9'`,
    );
  });

  it("names a missing file, invalid JSON or YAML, and a wrong top level", async () => {
    const missing = join(dir, "absent.json");
    expect(configLines(missing)[0]).toBe(
      `invalid configuration: IMAGEGATE_MODELS_FILE ${missing}: cannot be read (ENOENT)`,
    );
    expect(configLines(await modelsFile("{ models: "))[0]).toContain("is not valid JSON");
    expect(configLines(await modelsFile({ house: {} }))[0]).toMatch(/: (models|house): /);
    expect(configLines(await modelsFile("models: [unclosed", "yaml"))[0]).toContain(
      "is not valid YAML",
    );
  });

  it("checks IMAGEGATE_VARIATION_MODEL against the effective map", async () => {
    const path = await modelsFile({ models: { "dall-e-2": { hidden: true } } });
    expect(() => loadConfig({ IMAGEGATE_MODELS_FILE: path })).toThrow(
      /IMAGEGATE_VARIATION_MODEL must be a model/,
    );
    expect(
      loadConfig({ IMAGEGATE_MODELS_FILE: path, IMAGEGATE_VARIATION_MODEL: "gpt-image-2" })
        .variationModel,
    ).toBe("gpt-image-2");
  });
});
