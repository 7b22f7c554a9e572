// Upload bytes in flight: a process-wide cap on the request bodies being
// received at once (IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB), of which one tenant
// may hold at most a share, so that no tenant can take the whole budget from
// the others. A request reserves its declared size (or the most it may send)
// before its body is read; past a cap it is refused at once with retry-after.
// The process's total is always its own (it protects this process's memory
// and disk); a tenant's share is in process by default, and counted across
// every replica on Redis (stores/redis/upload-shares.ts).
import { gatewayError } from "../errors.js";

export interface UploadBudget {
  /**
   * Reserves `bytes` for a tenant's request body, or throws (503 / 429).
   * Returns the release (idempotent). `force` records bytes already received,
   * which no cap can refuse any more.
   */
  reserve(tenantId: string, bytes: number, options?: { force?: boolean }): Promise<() => void>;
  /** Bytes reserved now in this process, all tenants together. */
  inFlight(): number;
}

/** Each tenant's share of the uploads in flight: in this process, or across replicas. */
export interface TenantUploadShares {
  /**
   * Takes `bytes` of the tenant's share (at most `share` while it holds any),
   * or throws 429 upload_limit_exceeded; `force` never refuses. Returns the release.
   */
  take(tenantId: string, bytes: number, share: number, force: boolean): Promise<() => void>;
}

export interface UploadBudgetOptions {
  totalBytes: number;
  /** The most one tenant may hold; default half the total. */
  perTenantBytes?: number;
  /** Where tenants' shares are counted; default in this process. */
  shares?: TenantUploadShares;
}

/** Tenants' shares counted in this process. */
export function localUploadShares(): TenantUploadShares {
  const byTenant = new Map<string, number>();
  return {
    async take(tenantId, bytes, share, force) {
      const held = byTenant.get(tenantId) ?? 0;
      // A tenant holding nothing may start one upload larger than its share.
      if (!force && held > 0 && held + bytes > share) throw gatewayError("upload_limit_exceeded");
      byTenant.set(tenantId, held + bytes);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (byTenant.get(tenantId) ?? bytes) - bytes;
        if (left <= 0) byTenant.delete(tenantId);
        else byTenant.set(tenantId, left);
      };
    },
  };
}

export function createUploadBudget(options: UploadBudgetOptions): UploadBudget {
  const { totalBytes } = options;
  const perTenantBytes = options.perTenantBytes ?? Math.floor(totalBytes / 2);
  const shares = options.shares ?? localUploadShares();
  let inFlight = 0;
  return {
    async reserve(tenantId, bytes, reserveOptions = {}) {
      const force = reserveOptions.force === true;
      // Each cap refuses only the request that would join others under it: a
      // tenant holding nothing may start one upload larger than its share
      // (if the process has room), and an idle process takes one larger than
      // its total. A cap set below the largest allowed upload thus limits
      // concurrency without refusing such an upload outright.
      const releaseShare = await shares.take(tenantId, bytes, perTenantBytes, force);
      if (!force && inFlight > 0 && inFlight + bytes > totalBytes) {
        releaseShare();
        throw gatewayError("server_busy");
      }
      inFlight += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        inFlight -= bytes;
        releaseShare();
      };
    },
    inFlight: () => inFlight,
  };
}
