// The operator's API under /admin (DESIGN.md "Operator interface"), behind
// IMAGEGATE_ADMIN_TOKEN. Secrets are never returned, except a new API key once.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { builtInModelMap, type ModelMap, type ModelMapRow } from "../../catalog/model-map.js";
import type { Clock } from "../../clock.js";
import { InvalidRequestError, NotFoundError } from "../../errors.js";
import { type UsageLedger, utcDay } from "../../tenancy/usage.js";
import type { ApiKeyInfo, IssuedKey, Tenant, TenantChanges, Vault } from "../../tenancy/vault.js";
import { adminAuth } from "../auth.js";
import { parseBody } from "../schemas.js";

export interface AdminRouteOptions {
  vault: Vault;
  ledger: UsageLedger;
  clock: Clock;
  adminToken: string;
  /** The effective model map, shown by GET /admin/models; default the built-in table. */
  models?: ModelMap | undefined;
}

const limit = z.number().int().min(1).max(1_000_000).nullish();
const upstreamKey = z.string().trim().min(1).max(512).nullish();
const name = z.string().trim().min(1).max(100);

/** The tenant bodies, with allowlists checked against the effective model map. */
export function tenantSchemas(modelMap: ModelMap) {
  const models = z
    .array(
      z
        .string()
        .trim()
        .refine((model) => modelMap.resolve(model) !== undefined, "unknown model"),
    )
    .min(1)
    .max(64)
    .nullish();
  // Strict: a misspelt limit ("max_concurent") is an error, not silently no limit.
  const create = z.strictObject({
    name,
    rpm: limit,
    max_concurrent: limit,
    images_per_day: limit,
    models,
    upstream_key: upstreamKey,
  });
  const update = z
    .strictObject({
      name: name.optional(),
      rpm: limit,
      max_concurrent: limit,
      images_per_day: limit,
      models,
      upstream_key: upstreamKey,
      disabled: z.boolean().optional(),
    })
    .refine((body) => Object.keys(body).length > 0, "give at least one field to change");
  return { create, update };
}

const builtInSchemas = tenantSchemas(builtInModelMap);
export const createTenantSchema = builtInSchemas.create;
export const updateTenantSchema = builtInSchemas.update;

/** The longest a key may live: expiries stay real dates, whatever the clock. */
const maxKeyLifetimeSeconds = 10 * 365 * 86_400;
/** 9999-12-31T23:59:59Z, the last second an ISO date can show. */
const lastIsoSecond = 253_402_300_799;

export const issueKeySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).nullish(),
    /** Unix seconds; at most ten years from now (checked in expiryFrom, against the clock). */
    expires_at: z.number().int().positive().max(lastIsoSecond).nullish(),
    /** Seconds from now. */
    expires_in: z.number().int().positive().max(maxKeyLifetimeSeconds).nullish(),
  })
  .refine(
    (body) => body.expires_at == null || body.expires_in == null,
    "give expires_at or expires_in, not both",
  );

/** A real UTC day as YYYY-MM-DD: it names the same day back (no 2026-02-30, no 2026-13-45). */
export function isUtcDay(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00.000Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

const utcDayParam = z.string().refine(isUtcDay, "a UTC day, YYYY-MM-DD");
const usageQuerySchema = z.object({
  from: utcDayParam.optional(),
  to: utcDayParam.optional(),
});

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function tenantView(tenant: Tenant) {
  return {
    id: tenant.id,
    object: "tenant",
    name: tenant.name,
    created_at: seconds(tenant.createdAt),
    disabled: tenant.disabled,
    rpm: tenant.rpm,
    max_concurrent: tenant.maxConcurrent,
    images_per_day: tenant.imagesPerDay,
    models: tenant.models,
    has_upstream_key: tenant.hasUpstreamKey,
  };
}

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

export function keyView(key: ApiKeyInfo) {
  return {
    id: key.id,
    object: "api_key",
    name: key.name,
    hint: key.hint,
    created_at: seconds(key.createdAt),
    expires_at: seconds(key.expiresAt),
    revoked_at: seconds(key.revokedAt),
    last_used_at: seconds(key.lastUsedAt),
  };
}

/** A new key as shown once, at issue. */
export function issuedKeyView(key: IssuedKey, createdAt: number) {
  return {
    id: key.id,
    object: "api_key",
    name: key.name,
    hint: key.hint,
    api_key: key.apiKey,
    created_at: seconds(createdAt),
    expires_at: seconds(key.expiresAt),
  };
}

/** A create or update body (snake_case, as the API takes it) → the vault's changes. */
export function tenantChanges(
  body: z.output<typeof updateTenantSchema> | z.output<typeof createTenantSchema>,
): TenantChanges {
  return {
    name: body.name,
    rpm: body.rpm,
    maxConcurrent: body.max_concurrent,
    imagesPerDay: body.images_per_day,
    models: body.models,
    upstreamKey: body.upstream_key,
    disabled: "disabled" in body ? body.disabled : undefined,
  };
}

/** Expiry from `expires_at` (unix seconds) or `expires_in` (seconds), as clock ms. */
export function expiryFrom(
  body: { expires_at?: number | null | undefined; expires_in?: number | null | undefined },
  now: number,
): number | null {
  if (body.expires_in != null) return now + body.expires_in * 1000;
  if (body.expires_at != null) {
    if (body.expires_at * 1000 <= now) {
      throw new InvalidRequestError("expires_at is in the past.", "expires_at");
    }
    if (body.expires_at * 1000 > now + maxKeyLifetimeSeconds * 1000) {
      throw new InvalidRequestError("expires_at is more than ten years away.", "expires_at");
    }
    return body.expires_at * 1000;
  }
  return null;
}

export const adminRoutes: FastifyPluginAsync<AdminRouteOptions> = async (app, options) => {
  const { vault, ledger, clock } = options;
  app.addHook("onRequest", adminAuth(options.adminToken));

  const modelMap = options.models ?? builtInModelMap;
  const schemas = tenantSchemas(modelMap);
  app.get("/models", async () => ({ object: "list", data: modelMap.rows().map(modelView) }));

  const tenantOr404 = (id: string): Tenant => {
    const tenant = vault.getTenant(id);
    if (!tenant) throw new NotFoundError(`No tenant '${id}'.`, "tenant_not_found");
    return tenant;
  };

  app.post("/tenants", async (request, reply) => {
    const body = parseBody(schemas.create, request.body);
    const { tenant, key } = vault.createTenant({ ...tenantChanges(body), name: body.name });
    request.log.info({ tenantId: tenant.id, keyId: key.id }, "admin: tenant created");
    return reply.code(201).send({ ...tenantView(tenant), api_key: key.apiKey, key_id: key.id });
  });

  app.get("/tenants", async () => ({
    object: "list",
    data: vault.listTenants().map(tenantView),
  }));

  app.get<{ Params: { id: string } }>("/tenants/:id", async (request) => {
    const tenant = tenantOr404(request.params.id);
    return { ...tenantView(tenant), keys: (vault.listKeys(tenant.id) ?? []).map(keyView) };
  });

  app.patch<{ Params: { id: string } }>("/tenants/:id", async (request) => {
    const body = parseBody(schemas.update, request.body);
    const tenant = vault.updateTenant(request.params.id, tenantChanges(body));
    if (!tenant) throw new NotFoundError(`No tenant '${request.params.id}'.`, "tenant_not_found");
    // Field names only: values may be secrets (upstream_key).
    request.log.info({ tenantId: tenant.id, fields: Object.keys(body) }, "admin: tenant updated");
    return tenantView(tenant);
  });

  app.post<{ Params: { id: string } }>("/tenants/:id/keys", async (request, reply) => {
    const body = parseBody(issueKeySchema, request.body ?? {});
    const now = clock.now();
    const key = vault.issueKey(request.params.id, {
      name: body.name,
      expiresAt: expiryFrom(body, now),
    });
    if (!key) throw new NotFoundError(`No tenant '${request.params.id}'.`, "tenant_not_found");
    request.log.info({ tenantId: request.params.id, keyId: key.id }, "admin: key issued");
    return reply.code(201).send(issuedKeyView(key, now));
  });

  app.get<{ Params: { id: string } }>("/tenants/:id/keys", async (request) => {
    const keys = vault.listKeys(request.params.id);
    if (!keys) throw new NotFoundError(`No tenant '${request.params.id}'.`, "tenant_not_found");
    return { object: "list", data: keys.map(keyView) };
  });

  app.delete<{ Params: { id: string; keyId: string } }>(
    "/tenants/:id/keys/:keyId",
    async (request) => {
      const { id, keyId } = request.params;
      tenantOr404(id);
      const key = vault.revokeKey(id, keyId);
      if (!key) throw new NotFoundError(`No key '${keyId}' for tenant '${id}'.`, "key_not_found");
      request.log.info({ tenantId: id, keyId }, "admin: key revoked");
      return keyView(key);
    },
  );

  app.get<{ Params: { id: string } }>("/tenants/:id/usage", async (request) => {
    const tenant = tenantOr404(request.params.id);
    const query = parseBody(usageQuerySchema, request.query ?? {});
    const now = clock.now();
    const to = query.to ?? utcDay(now);
    const from = query.from ?? utcDay(now - 29 * 86_400_000);
    if (from > to) throw new InvalidRequestError("from is after to.", "from");
    return { ...ledger.report(tenant.id, from, to), images_per_day: tenant.imagesPerDay };
  });
};
