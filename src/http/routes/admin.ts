// The operator's API under /admin (DESIGN.md "Operator interface"), behind
// IMAGEGATE_ADMIN_TOKEN. Secrets are never returned, except a new API key once.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { resolveModel } from "../../catalog/models.js";
import { NotFoundError } from "../../errors.js";
import type { Tenant, Vault } from "../../tenancy/vault.js";
import { adminAuth } from "../auth.js";
import { parseBody } from "../schemas.js";

export interface AdminRouteOptions {
  vault: Vault;
  adminToken: string;
}

const limit = z.number().int().min(1).max(1_000_000).nullish();

const createTenantSchema = z.object({
  name: z.string().trim().min(1).max(100),
  rpm: limit,
  max_concurrent: limit,
  images_per_day: limit,
  models: z
    .array(
      z
        .string()
        .trim()
        .refine((name) => resolveModel(name) !== undefined, "unknown model"),
    )
    .min(1)
    .max(64)
    .nullish(),
  upstream_key: z.string().trim().min(1).max(512).nullish(),
});

export function tenantView(tenant: Tenant) {
  return {
    id: tenant.id,
    object: "tenant",
    name: tenant.name,
    created_at: Math.floor(tenant.createdAt / 1000),
    disabled: tenant.disabled,
    rpm: tenant.rpm,
    max_concurrent: tenant.maxConcurrent,
    images_per_day: tenant.imagesPerDay,
    models: tenant.models,
    has_upstream_key: tenant.hasUpstreamKey,
  };
}

export const adminRoutes: FastifyPluginAsync<AdminRouteOptions> = async (app, options) => {
  const { vault } = options;
  app.addHook("onRequest", adminAuth(options.adminToken));

  app.post("/tenants", async (request, reply) => {
    const body = parseBody(createTenantSchema, request.body);
    const { tenant, key } = vault.createTenant({
      name: body.name,
      rpm: body.rpm,
      maxConcurrent: body.max_concurrent,
      imagesPerDay: body.images_per_day,
      models: body.models,
      upstreamKey: body.upstream_key,
    });
    request.log.info({ tenantId: tenant.id, keyId: key.id }, "tenant created");
    return reply.code(201).send({ ...tenantView(tenant), api_key: key.apiKey, key_id: key.id });
  });

  app.get("/tenants", async () => ({
    object: "list",
    data: vault.listTenants().map(tenantView),
  }));

  app.get<{ Params: { id: string } }>("/tenants/:id", async (request) => {
    const tenant = vault.getTenant(request.params.id);
    if (!tenant) throw new NotFoundError(`No tenant '${request.params.id}'.`, "tenant_not_found");
    return tenantView(tenant);
  });
};
