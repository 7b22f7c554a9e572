// GET /v1/models and /v1/models/:model, in OpenAI's list shape: model ids and
// aliases, OpenAI's own image model names among them, and the operator's
// names (IMAGEGATE_MODELS_FILE); hidden names are left out.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { builtInModelMap, type ModelMap } from "../../catalog/model-map.js";
import type { CatalogEntry } from "../../catalog/models.js";
import { gatewayError } from "../../errors.js";
import { documented } from "../openapi-docs.js";
import { modelListSchema, modelSchema } from "../openapi-schemas.js";

// A fixed date keeps the listing stable across restarts (2026-01-01).
const listedSince = 1_767_225_600;

const owners: Readonly<Record<string, string>> = {
  "gpt-image": "openai",
  gemini: "google",
  grok: "xai",
};

export interface ModelsRouteOptions {
  /** The effective model map; default the built-in table. */
  models?: ModelMap | undefined;
}

export const modelsRoutes: FastifyPluginAsync<ModelsRouteOptions> = async (app, options) => {
  const models = options.models ?? builtInModelMap;
  const toModel = (entry: CatalogEntry) => {
    const family = models.resolve(entry.id)?.spec.family ?? "gpt-image";
    // OpenAI's names are OpenAI's models, whichever upstream model serves them.
    const owner = entry.kind === undefined ? owners[family] : "openai";
    return { id: entry.id, object: "model", created: listedSince, owned_by: owner };
  };
  const entries = models.entries();
  const listing = { object: "list", data: entries.map(toModel) };

  const listDocs = documented({
    operationId: "listModels",
    summary: "List the models",
    description:
      "Model ids, aliases, OpenAI's own image model names and the operator's names (IMAGEGATE_MODELS_FILE); hidden names are left out.",
    tags: ["Models"],
    security: "tenant",
    response: { 200: modelListSchema },
  });
  app.get("/models", { schema: listDocs }, async () => listing);

  const modelDocs = documented({
    operationId: "retrieveModel",
    summary: "Retrieve a model",
    tags: ["Models"],
    security: "tenant",
    params: z.object({ model: z.string().describe("A model name, as GET /v1/models lists it.") }),
    response: { 200: modelSchema },
    errors: ["model_not_found"],
  });
  app.get<{ Params: { model: string } }>(
    "/models/:model",
    { schema: modelDocs },
    async (request) => {
      const entry = entries.find((candidate) => candidate.id === request.params.model);
      if (!entry) {
        throw gatewayError("model_not_found", { model: request.params.model, retrieve: true });
      }
      return toModel(entry);
    },
  );
};
