// The operator's API under /admin (DESIGN.md "Operator interface"), behind
// IMAGEGATE_ADMIN_TOKEN. Secrets are never returned, except a new API key once.
// The bodies and views are the tenancy's own (tenancy/settings.ts, keys.ts),
// shared with the CLI.
import type { FastifyPluginAsync } from "fastify";
import { builtInModelMap, type ModelMap, type ModelMapRow } from "../../catalog/model-map.js";
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import type { GenerationRecords } from "../../generation/record.js";
import { expiryFrom, issuedKeyView, issueKeySchema, keyView } from "../../tenancy/keys.js";
import { newTenantOf, tenantChanges, tenantSchemas, tenantView } from "../../tenancy/settings.js";
import type { Tenant, Vault } from "../../tenancy/vault.js";
import { parseBody } from "../../validation.js";
import { adminAuth } from "../auth.js";
import { documented } from "../openapi-docs.js";
import {
  createdTenantSchema,
  issuedKeySchema,
  keyViewSchema,
  listOf,
  modelMappingSchema,
  tenantKeyParams,
  tenantParams,
  tenantUsageSchema,
  tenantViewSchema,
  tenantWithKeysSchema,
} from "../openapi-schemas.js";
import { usageQuerySchema, usageRange } from "../usage-range.js";

export interface AdminRouteOptions {
  vault: Vault;
  ledger: GenerationRecords;
  clock: Clock;
  adminToken: string;
  /** The effective model map, shown by GET /admin/models; default the built-in table. */
  models?: ModelMap | undefined;
}

// A real UTC day (validation.ts); exported here too for the channel routes.

/** One name of the effective model map, as GET /admin/models shows it. */
export function modelView(row: ModelMapRow) {
  return {
    id: row.name,
    object: "model_mapping",
    upstream: row.upstream,
    openai_model: row.kind ?? null,
    defaults: row.defaults,
    hidden: row.hidden,
    max_references: row.maxReferences,
    source: row.source,
  };
}

export const adminRoutes: FastifyPluginAsync<AdminRouteOptions> = async (app, options) => {
  const { vault, ledger, clock } = options;
  app.addHook("onRequest", adminAuth(options.adminToken));

  const modelMap = options.models ?? builtInModelMap;
  const schemas = tenantSchemas(modelMap);
  const modelsDocs = documented({
    operationId: "adminListModelMappings",
    summary: "The effective model map",
    description: "Every public name, hidden ones included, with its upstream model and defaults.",
    tags: ["Admin: models"],
    security: "admin",
    response: { 200: listOf(modelMappingSchema) },
  });
  app.get("/models", { schema: modelsDocs }, async () => ({
    object: "list",
    data: modelMap.rows().map(modelView),
  }));

  const tenantOr404 = async (id: string): Promise<Tenant> => {
    const tenant = await vault.getTenant(id);
    if (!tenant) throw gatewayError("tenant_not_found", { tenant: id });
    return tenant;
  };

  const createDocs = documented({
    operationId: "adminCreateTenant",
    summary: "Create a tenant",
    description: "Answers its first API key: the only time it is shown.",
    tags: ["Admin: tenants"],
    security: "admin",
    body: schemas.create,
    response: { 201: createdTenantSchema },
    errors: ["master_key_required"],
  });
  app.post("/tenants", { schema: createDocs }, async (request, reply) => {
    const body = parseBody(schemas.create, request.body);
    const { tenant, key } = await vault.createTenant(newTenantOf(body));
    request.log.info({ tenantId: tenant.id, keyId: key.id }, "admin: tenant created");
    return reply.code(201).send({ ...tenantView(tenant), api_key: key.apiKey, key_id: key.id });
  });

  const listDocs = documented({
    operationId: "adminListTenants",
    summary: "List the tenants",
    tags: ["Admin: tenants"],
    security: "admin",
    response: { 200: listOf(tenantViewSchema) },
  });
  app.get("/tenants", { schema: listDocs }, async () => ({
    object: "list",
    data: (await vault.listTenants()).map(tenantView),
  }));

  const getDocs = documented({
    operationId: "adminGetTenant",
    summary: "A tenant, with its keys",
    tags: ["Admin: tenants"],
    security: "admin",
    params: tenantParams,
    response: { 200: tenantWithKeysSchema },
    errors: ["tenant_not_found"],
  });
  app.get<{ Params: { id: string } }>("/tenants/:id", { schema: getDocs }, async (request) => {
    const tenant = await tenantOr404(request.params.id);
    return { ...tenantView(tenant), keys: ((await vault.listKeys(tenant.id)) ?? []).map(keyView) };
  });

  const updateDocs = documented({
    operationId: "adminUpdateTenant",
    summary: "Change a tenant",
    description:
      "Limits, models, its own upstream key, disabled. null clears a setting (no limit, every model, no key of its own).",
    tags: ["Admin: tenants"],
    security: "admin",
    params: tenantParams,
    body: schemas.update,
    response: { 200: tenantViewSchema },
    errors: ["tenant_not_found", "master_key_required"],
  });
  app.patch<{ Params: { id: string } }>("/tenants/:id", { schema: updateDocs }, async (request) => {
    const body = parseBody(schemas.update, request.body);
    const tenant = await vault.updateTenant(request.params.id, tenantChanges(body));
    if (!tenant) throw gatewayError("tenant_not_found", { tenant: request.params.id });
    // Field names only: values may be secrets (upstream_key).
    request.log.info({ tenantId: tenant.id, fields: Object.keys(body) }, "admin: tenant updated");
    return tenantView(tenant);
  });

  const issueDocs = documented({
    operationId: "adminIssueKey",
    summary: "Issue another API key",
    description: "The key is answered once, here.",
    tags: ["Admin: tenants"],
    security: "admin",
    params: tenantParams,
    body: issueKeySchema,
    bodyRequired: false,
    response: { 201: issuedKeySchema },
    errors: ["tenant_not_found"],
  });
  app.post<{ Params: { id: string } }>(
    "/tenants/:id/keys",
    { schema: issueDocs },
    async (request, reply) => {
      const body = parseBody(issueKeySchema, request.body ?? {});
      const now = clock.now();
      const key = await vault.issueKey(request.params.id, {
        name: body.name,
        expiresAt: expiryFrom(body, now),
      });
      if (!key) throw gatewayError("tenant_not_found", { tenant: request.params.id });
      request.log.info({ tenantId: request.params.id, keyId: key.id }, "admin: key issued");
      return reply.code(201).send(issuedKeyView(key, now));
    },
  );

  const keysDocs = documented({
    operationId: "adminListKeys",
    summary: "A tenant's API keys",
    description: "Never the keys themselves: their hints, expiry and use.",
    tags: ["Admin: tenants"],
    security: "admin",
    params: tenantParams,
    response: { 200: listOf(keyViewSchema) },
    errors: ["tenant_not_found"],
  });
  app.get<{ Params: { id: string } }>(
    "/tenants/:id/keys",
    { schema: keysDocs },
    async (request) => {
      const keys = await vault.listKeys(request.params.id);
      if (!keys) throw gatewayError("tenant_not_found", { tenant: request.params.id });
      return { object: "list", data: keys.map(keyView) };
    },
  );

  app.delete<{ Params: { id: string; keyId: string } }>(
    "/tenants/:id/keys/:keyId",
    {
      schema: documented({
        operationId: "adminRevokeKey",
        summary: "Revoke an API key",
        description: "At once: the next request with it is refused (401).",
        tags: ["Admin: tenants"],
        security: "admin",
        params: tenantKeyParams,
        response: { 200: keyViewSchema },
        errors: ["tenant_not_found", "key_not_found"],
      }),
    },
    async (request) => {
      const { id, keyId } = request.params;
      await tenantOr404(id);
      const key = await vault.revokeKey(id, keyId);
      if (!key) throw gatewayError("key_not_found", { key: keyId, tenant: id });
      request.log.info({ tenantId: id, keyId }, "admin: key revoked");
      return keyView(key);
    },
  );

  const usageDocs = documented({
    operationId: "adminTenantUsage",
    summary: "A tenant's usage by model and day",
    description: "The last 30 days (UTC) unless from and to say otherwise.",
    tags: ["Admin: tenants"],
    security: "admin",
    params: tenantParams,
    querystring: usageQuerySchema,
    response: { 200: tenantUsageSchema },
    errors: ["tenant_not_found", "invalid_value", "invalid_type"],
  });
  app.get<{ Params: { id: string } }>(
    "/tenants/:id/usage",
    { schema: usageDocs },
    async (request) => {
      const tenant = await tenantOr404(request.params.id);
      const { from, to } = usageRange(request.query, clock.now());
      return { ...(await ledger.report(tenant.id, from, to)), images_per_day: tenant.imagesPerDay };
    },
  );
};
