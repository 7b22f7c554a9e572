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

// The admin API's shapes live in api-types.ts (no DOM there: the gateway's
// own schemas are checked against them by `npm run typecheck`).
import type {
  ApiKey,
  Channel,
  Generation,
  GenerationState,
  IssuedKey,
  List,
  ModelMapping,
  Status,
  Tenant,
  TenantSettings,
  TenantWithKeys,
  UsageReport,
} from "./api-types.js";

export * from "./api-types.js";

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
