// Upload bytes in flight: a process-wide cap on the request bodies being
// received at once (IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB), of which one tenant
// may hold at most a share, so that no tenant can take the whole budget from
// the others. A request reserves its declared size (or the most it may send)
// before its body is read; past a cap it is refused at once with retry-after.
import { gatewayError } from "../errors.js";

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
        throw gatewayError("upload_limit_exceeded");
      }
      if (!force && inFlight > 0 && inFlight + bytes > totalBytes) {
        throw gatewayError("server_busy");
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
