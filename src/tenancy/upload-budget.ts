// Upload bytes in flight: a process-wide cap on the request bodies being
// received at once (IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB), of which one tenant
// may hold at most a share, so that no tenant can take the whole budget from
// the others. A request reserves its declared size (or the most it may send)
// before its body is read; past a cap it is refused at once with retry-after.
import { GatewayError } from "../errors.js";

export interface UploadBudget {
  /**
   * Reserves `bytes` for a tenant's request body, or throws (503 / 429).
   * Returns the release (idempotent). `force` records bytes already received,
   * which no cap can refuse any more.
   */
  reserve(tenantId: string, bytes: number, options?: { force?: boolean }): () => void;
  /** Bytes reserved now, all tenants together. */
  inFlight(): number;
}

export interface UploadBudgetOptions {
  totalBytes: number;
  /** The most one tenant may hold; default half the total. */
  perTenantBytes?: number;
}

/** Seconds a refused caller is told to wait: uploads finish within seconds. */
const retryAfterSeconds = "2";

export function createUploadBudget(options: UploadBudgetOptions): UploadBudget {
  const { totalBytes } = options;
  const perTenantBytes = options.perTenantBytes ?? Math.floor(totalBytes / 2);
  const byTenant = new Map<string, number>();
  let inFlight = 0;
  return {
    reserve(tenantId, bytes, reserveOptions = {}) {
      const held = byTenant.get(tenantId) ?? 0;
      const force = reserveOptions.force === true;
      // Each cap refuses only the request that would join others under it: a
      // tenant holding nothing may start one upload larger than its share
      // (if the process has room), and an idle process takes one larger than
      // its total. A cap set below the largest allowed upload thus limits
      // concurrency without refusing such an upload outright.
      if (!force && held > 0 && held + bytes > perTenantBytes) {
        throw new GatewayError({
          status: 429,
          type: "rate_limit_error",
          code: "upload_limit_exceeded",
          message:
            "Too many uploads in progress for this key at once. Retry when one of them has been received.",
          headers: { "retry-after": retryAfterSeconds },
        });
      }
      if (!force && inFlight > 0 && inFlight + bytes > totalBytes) {
        throw new GatewayError({
          status: 503,
          type: "server_error",
          code: "server_busy",
          message: "The gateway is receiving too many uploads right now. Retry shortly.",
          headers: { "retry-after": retryAfterSeconds },
        });
      }
      inFlight += bytes;
      byTenant.set(tenantId, held + bytes);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        inFlight -= bytes;
        const left = (byTenant.get(tenantId) ?? bytes) - bytes;
        if (left <= 0) byTenant.delete(tenantId);
        else byTenant.set(tenantId, left);
      };
    },
    inFlight: () => inFlight,
  };
}
