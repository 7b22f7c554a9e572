// Key generation, hashing, and AES-256-GCM sealing of credentials at rest.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

/** Tenant API keys: a recognisable prefix and 256 bits of randomness. */
export const apiKeyPrefix = "ig_";

export function generateApiKey(): string {
  return `${apiKeyPrefix}${randomBytes(32).toString("base64url")}`;
}

/**
 * Keys carry 256 bits of entropy, so a plain SHA-256 is a safe one-way store
 * (a slow password hash buys nothing here and would cost every request).
 */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A non-secret hint to tell keys apart in listings: prefix and first chars. */
export function keyHint(key: string): string {
  return `${key.slice(0, apiKeyPrefix.length + 4)}…`;
}

/** Equal-length constant-time comparison of two strings. */
export function safeEqual(a: string, b: string): boolean {
  // Hash first so that lengths do not leak and the comparison is fixed-size.
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
}

/** A purpose-bound key derived from the master key (HKDF-SHA256). */
export function deriveKey(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `imagegate:${purpose}`, 32));
}

const sealVersion = "v1";

/** AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
export function seal(master: Buffer, plaintext: string): string {
  const key = deriveKey(master, "seal");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [sealVersion, iv, tag, ciphertext]
    .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
    .join(".");
}

export class UnsealError extends Error {
  constructor() {
    super("sealed value cannot be opened with this master key");
    this.name = "UnsealError";
  }
}

export function unseal(master: Buffer, sealed: string): string {
  const [version, iv, tag, ciphertext] = sealed.split(".");
  if (version !== sealVersion || !iv || !tag || ciphertext === undefined) throw new UnsealError();
  const ivBytes = Buffer.from(iv, "base64url");
  const tagBytes = Buffer.from(tag, "base64url");
  // GCM would accept a tag cut down to 4 bytes, making forgery far easier:
  // only the full 16-byte tag (and the 12-byte iv seal writes) is accepted.
  if (ivBytes.length !== 12 || tagBytes.length !== 16) throw new UnsealError();
  try {
    const decipher = createDecipheriv("aes-256-gcm", deriveKey(master, "seal"), ivBytes, {
      authTagLength: 16,
    });
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertext, "base64url")),
      decipher.final(),
    ]).toString("utf8");
  } catch {
    throw new UnsealError();
  }
}
