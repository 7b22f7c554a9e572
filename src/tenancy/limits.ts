// Per-tenant concurrency caps. A slot is taken before anything is submitted and
// given back exactly once, however the request ends. In process by default;
// shared by every replica on Redis (stores/redis/concurrency-gate.ts).
import { builtInModelMap, type ModelMap } from "../catalog/model-map.js";
import { gatewayError } from "../errors.js";

export interface ConcurrencyGate {
  /**
   * Takes a slot or throws a 429 (a 503 when the shared store is away); the
   * returned function gives it back (idempotent). A null max is never refused
   * but still counted.
   */
  acquire(tenantId: string, max: number | null): Promise<() => void>;
  /** Takes a slot if one is free; undefined (no error) when the tenant is at its max. */
  tryAcquire(tenantId: string, max: number | null): Promise<(() => void) | undefined>;
  inFlight(tenantId: string): Promise<number>;
}

export function createConcurrencyGate(): ConcurrencyGate {
  const counts = new Map<string, number>();
  // In process: each step is synchronous, behind a settled promise.
  const take = (tenantId: string, max: number | null) => {
    const current = counts.get(tenantId) ?? 0;
    if (max !== null && current >= max) return undefined;
    counts.set(tenantId, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(tenantId) ?? 1) - 1;
      if (left <= 0) counts.delete(tenantId);
      else counts.set(tenantId, left);
    };
  };
  return {
    tryAcquire: async (tenantId, max) => take(tenantId, max),
    async acquire(tenantId, max) {
      const release = take(tenantId, max);
      if (release === undefined)
        throw gatewayError("concurrency_limit_exceeded", { max: max ?? 0 });
      return release;
    },
    inFlight: async (tenantId) => counts.get(tenantId) ?? 0,
  };
}

/**
 * A tenant's model allowlist holds names (ids or aliases); allowing a name
 * allows the upstream model behind it under any of its names.
 */
export function assertModelAllowed(
  allowed: readonly string[] | null,
  modelId: string,
  requested: string,
  models: ModelMap = builtInModelMap,
): void {
  if (allowed === null) return;
  if (allowed.some((name) => models.resolve(name)?.spec.id === modelId)) return;
  throw gatewayError("model_not_allowed", { model: requested });
}
