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
import { usageRange } from "../usage-range.js";

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
  app.get("/models", async () => ({ object: "list", data: modelMap.rows().map(modelView) }));

  const tenantOr404 = async (id: string): Promise<Tenant> => {
    const tenant = await vault.getTenant(id);
    if (!tenant) throw gatewayError("tenant_not_found", { tenant: id });
    return tenant;
  };

  app.post("/tenants", async (request, reply) => {
    const body = parseBody(schemas.create, request.body);
    const { tenant, key } = await vault.createTenant(newTenantOf(body));
    request.log.info({ tenantId: tenant.id, keyId: key.id }, "admin: tenant created");
    return reply.code(201).send({ ...tenantView(tenant), api_key: key.apiKey, key_id: key.id });
  });

  app.get("/tenants", async () => ({
    object: "list",
    data: (await vault.listTenants()).map(tenantView),
  }));

  app.get<{ Params: { id: string } }>("/tenants/:id", async (request) => {
    const tenant = await tenantOr404(request.params.id);
    return { ...tenantView(tenant), keys: ((await vault.listKeys(tenant.id)) ?? []).map(keyView) };
  });

  app.patch<{ Params: { id: string } }>("/tenants/:id", async (request) => {
    const body = parseBody(schemas.update, request.body);
    const tenant = await vault.updateTenant(request.params.id, tenantChanges(body));
    if (!tenant) throw gatewayError("tenant_not_found", { tenant: request.params.id });
    // Field names only: values may be secrets (upstream_key).
    request.log.info({ tenantId: tenant.id, fields: Object.keys(body) }, "admin: tenant updated");
    return tenantView(tenant);
  });

  app.post<{ Params: { id: string } }>("/tenants/:id/keys", async (request, reply) => {
    const body = parseBody(issueKeySchema, request.body ?? {});
    const now = clock.now();
    const key = await vault.issueKey(request.params.id, {
      name: body.name,
      expiresAt: expiryFrom(body, now),
    });
    if (!key) throw gatewayError("tenant_not_found", { tenant: request.params.id });
    request.log.info({ tenantId: request.params.id, keyId: key.id }, "admin: key issued");
    return reply.code(201).send(issuedKeyView(key, now));
  });

  app.get<{ Params: { id: string } }>("/tenants/:id/keys", async (request) => {
    const keys = await vault.listKeys(request.params.id);
    if (!keys) throw gatewayError("tenant_not_found", { tenant: request.params.id });
    return { object: "list", data: keys.map(keyView) };
  });

  app.delete<{ Params: { id: string; keyId: string } }>(
    "/tenants/:id/keys/:keyId",
    async (request) => {
      const { id, keyId } = request.params;
      await tenantOr404(id);
      const key = await vault.revokeKey(id, keyId);
      if (!key) throw gatewayError("key_not_found", { key: keyId, tenant: id });
      request.log.info({ tenantId: id, keyId }, "admin: key revoked");
      return keyView(key);
    },
  );

  app.get<{ Params: { id: string } }>("/tenants/:id/usage", async (request) => {
    const tenant = await tenantOr404(request.params.id);
    const { from, to } = usageRange(request.query, clock.now());
    return { ...(await ledger.report(tenant.id, from, to)), images_per_day: tenant.imagesPerDay };
  });
};
