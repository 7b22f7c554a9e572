// Per-tenant concurrency caps. A slot is taken before anything is submitted and
// given back exactly once, however the request ends.
import { builtInModelMap, type ModelMap } from "../catalog/model-map.js";
import { gatewayError } from "../errors.js";

export interface ConcurrencyGate {
  /** Takes a slot or throws a 429; the returned function gives it back (idempotent). */
  acquire(tenantId: string, max: number | null): () => void;
  /** Takes a slot if one is free; undefined (no error) when the tenant is at its max. */
  tryAcquire(tenantId: string, max: number | null): (() => void) | undefined;
  inFlight(tenantId: string): number;
}

export function createConcurrencyGate(): ConcurrencyGate {
  const counts = new Map<string, number>();
  const gate: ConcurrencyGate = {
    tryAcquire(tenantId, max) {
      if (max !== null && (counts.get(tenantId) ?? 0) >= max) return undefined;
      return gate.acquire(tenantId, max);
    },
    acquire(tenantId, max) {
      const current = counts.get(tenantId) ?? 0;
      if (max !== null && current >= max) {
        throw gatewayError("concurrency_limit_exceeded", { max });
      }
      counts.set(tenantId, current + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(tenantId) ?? 1) - 1;
        if (left <= 0) counts.delete(tenantId);
        else counts.set(tenantId, left);
      };
    },
    inFlight(tenantId) {
      return counts.get(tenantId) ?? 0;
    },
  };
  return gate;
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
