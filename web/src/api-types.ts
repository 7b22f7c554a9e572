// What the admin API answers, as the console reads it (README "Tenants, keys,
// limits and usage"). Types only, no DOM: test/types/console-api.ts holds the
// gateway's own response schemas to these, so a renamed field or value fails
// `npm run typecheck` instead of the console in a browser.

export interface List<T> {
  object: "list";
  data: T[];
  has_more?: boolean;
}

export interface Tenant {
  id: string;
  object: "tenant";
  name: string;
  rpm: number | null;
  max_concurrent: number | null;
  images_per_day: number | null;
  models: string[] | null;
  has_upstream_key: boolean;
  disabled: boolean;
  created_at: number;
}

export interface ApiKey {
  id: string;
  name: string | null;
  hint: string;
  created_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface TenantWithKeys extends Tenant {
  keys: ApiKey[];
}

export interface IssuedKey {
  id: string;
  name: string | null;
  hint: string;
  api_key: string;
  expires_at: number | null;
}

/** What a create or update body takes; null clears a limit. */
export interface TenantSettings {
  name?: string;
  rpm?: number | null;
  max_concurrent?: number | null;
  images_per_day?: number | null;
  models?: string[] | null;
  upstream_key?: string | null;
  disabled?: boolean;
}

export interface UsageRow {
  day: string;
  model: string;
  requests: number;
  upstream_tasks: number;
  images_requested: number;
  images: number;
  succeeded: number;
  failed: number;
}

export type UsageMetric = Exclude<keyof UsageRow, "day" | "model">;

export interface UsageReport {
  tenant_id: string;
  from: string;
  to: string;
  data: UsageRow[];
  totals: Record<UsageMetric, number>;
  images_per_day: number | null;
}

export type Circuit = "closed" | "open" | "half-open";

export interface Channel {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  models: string[];
  priority: number;
  weight: number;
  max_concurrent: number | null;
  enabled: boolean;
  source: string;
  health: {
    circuit: Circuit;
    retry_after_seconds: number | null;
    in_flight: number;
    credential_refused: { at: number; status: number | null; code: string | null } | null;
  };
}

export interface Status {
  started_at: number;
  uptime_seconds: number;
  tasks_in_flight: number;
  channels: { id: string; name: string; enabled: boolean; circuit: Circuit; in_flight: number }[];
}

export const generationStates = [
  "pending",
  "running",
  "succeeded",
  "failed",
  "refused",
  "unknown",
  "error",
] as const;
export type GenerationState = (typeof generationStates)[number];

export interface Generation {
  id: string;
  tenant_id: string;
  model: string;
  requested_model: string;
  n: number;
  state: GenerationState;
  channel_id: string | null;
  upstream_task_id: string | null;
  images: number;
  created_at: number;
  finished_at: number | null;
  delivered_at: number | null;
  duration_ms: number | null;
  lag_ms: number | null;
  progress: number | null;
  error: { status: number; type: string; code: string | null; message: string } | null;
}

export interface ModelMapping {
  id: string;
  upstream: string;
  hidden: boolean;
}
