// The console's only way to the gateway: the admin API, same origin, with the
// admin token as a Bearer header. The token lives in this module's memory
// alone (never in storage, cookies or the URL), so closing or reloading the
// tab signs the operator out.

/** The OpenAI-shaped error body every gateway error has. */
interface ErrorBody {
  error?: { message?: unknown; code?: unknown };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let token: string | null = null;
const unauthorizedListeners = new Set<(message: string) => void>();

export function signIn(adminToken: string): void {
  token = adminToken;
}

export function signOut(): void {
  token = null;
}

/** Called when the gateway refuses the token (401): the console returns to sign-in. */
export function onUnauthorized(listener: (message: string) => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  if (token === null) throw new ApiError(401, "Not signed in.", "invalid_api_key");
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "The gateway cannot be reached.", null);
  }
  const payload: unknown = await response.json().catch(() => undefined);
  if (response.ok) return payload as T;
  const error = (payload as ErrorBody | undefined)?.error;
  const message =
    typeof error?.message === "string" ? error.message : `The gateway answered ${response.status}.`;
  const code = typeof error?.code === "string" ? error.code : null;
  if (response.status === 401) {
    token = null;
    for (const listener of unauthorizedListeners) listener(message);
  }
  throw new ApiError(response.status, message, code);
}

/** The message to show for any failure of a call. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- The admin API's shapes (README "Tenants, keys, limits and usage") ------

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

export type Circuit = "closed" | "open" | "half_open";

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

export interface GenerationQuery {
  tenant?: string | undefined;
  state?: GenerationState | undefined;
  limit?: number | undefined;
  before?: string | undefined;
}

const segment = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

export const admin = {
  models: () => call<List<ModelMapping>>("GET", "/admin/models"),
  status: () => call<Status>("GET", "/admin/status"),
  channels: () => call<List<Channel>>("GET", "/admin/channels"),
  tenants: () => call<List<Tenant>>("GET", "/admin/tenants"),
  tenant: (id: string) => call<TenantWithKeys>("GET", `/admin/tenants/${segment(id)}`),
  createTenant: (body: TenantSettings) =>
    call<Tenant & { api_key: string; key_id: string }>("POST", "/admin/tenants", body),
  updateTenant: (id: string, body: TenantSettings) =>
    call<Tenant>("PATCH", `/admin/tenants/${segment(id)}`, body),
  issueKey: (id: string, body: { name?: string; expires_in?: number }) =>
    call<IssuedKey>("POST", `/admin/tenants/${segment(id)}/keys`, body),
  revokeKey: (id: string, keyId: string) =>
    call<ApiKey>("DELETE", `/admin/tenants/${segment(id)}/keys/${segment(keyId)}`),
  usage: (id: string, from: string, to: string) =>
    call<UsageReport>("GET", `/admin/tenants/${segment(id)}/usage${query({ from, to })}`),
  generations: (params: GenerationQuery) =>
    call<List<Generation> & { has_more: boolean }>(
      "GET",
      `/admin/generations${query({ ...params })}`,
    ),
};
