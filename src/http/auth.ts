// Tenant and admin authentication hooks. Keys arrive as `Authorization: Bearer`;
// they are never logged (see the logger's redact list in app.ts).
import type { FastifyReply, FastifyRequest } from "fastify";
import { gatewayError } from "../errors.js";
import { safeEqual } from "../tenancy/secrets.js";
import type { Tenant, Vault } from "../tenancy/vault.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the tenant hook on every /v1 route. */
    tenant: Tenant | null;
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== "string") return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** onRequest hook: runs before the body is read, so strangers cannot make us parse. */
export function tenantAuth(vault: Vault) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request);
    if (token === undefined) {
      throw gatewayError("invalid_api_key", { missing: true });
    }
    const tenant = await vault.authenticate(token);
    if (!tenant) throw gatewayError("invalid_api_key");
    request.tenant = tenant;
  };
}

/** The tenant of an authenticated request (the hook guarantees one). */
export function tenantOf(request: FastifyRequest): Tenant {
  if (!request.tenant) throw gatewayError("invalid_api_key");
  return request.tenant;
}

export function adminAuth(adminToken: string) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request);
    // Constant-time: the comparison does not reveal how much of a guess was right.
    if (token === undefined || !safeEqual(token, adminToken)) {
      throw gatewayError("invalid_api_key", { admin: true });
    }
  };
}
