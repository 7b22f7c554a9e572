// A tenant's API keys as the operator issues and sees them, through the admin
// API or the CLI: the issue body, the expiry it gives, and the views (never the
// key or its hash, but for the one time a new key is shown).
import { z } from "zod";
import { gatewayError } from "../errors.js";
import type { ApiKeyInfo, IssuedKey } from "./vault.js";

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

/** Expiry from `expires_at` (unix seconds) or `expires_in` (seconds), as clock ms. */
export function expiryFrom(
  body: { expires_at?: number | null | undefined; expires_in?: number | null | undefined },
  now: number,
): number | null {
  if (body.expires_in != null) return now + body.expires_in * 1000;
  if (body.expires_at != null) {
    if (body.expires_at * 1000 <= now) {
      throw gatewayError(
        "invalid_value",
        { detail: "expires_at is in the past." },
        { param: "expires_at" },
      );
    }
    if (body.expires_at * 1000 > now + maxKeyLifetimeSeconds * 1000) {
      throw gatewayError(
        "invalid_value",
        { detail: "expires_at is more than ten years away." },
        { param: "expires_at" },
      );
    }
    return body.expires_at * 1000;
  }
  return null;
}

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

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
