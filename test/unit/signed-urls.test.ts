// Regression (issue 10, finding 4): signatures of re-hosted URLs were
// malleable. The check decoded the signature with Buffer.from(x, "base64url"),
// which also takes padding, the standard +/ alphabet, junk characters and a
// last character with non-zero unused bits; and any run of digits was taken
// as the expiry. Only the canonical spelling of a URL is accepted now.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createUrlSigner } from "../../src/storage/blobs.js";

const key = Buffer.alloc(32, 9);
const signer = createUrlSigner(key, "https://img.example.com");
const id = "AAAAAAAAAAAAAAAAAAAAAA.png";
const now = 1_000_000_000_000;
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function signed(expiresAt: number): { expires: string; signature: string } {
  const url = new URL(signer.url(id, expiresAt));
  return {
    expires: url.searchParams.get("expires") ?? "",
    signature: url.searchParams.get("signature") ?? "",
  };
}

// A URL whose signature has a base64url-only character (- or _), so that its
// standard-alphabet spelling differs; found among consecutive expiries.
function signedWithUrlAlphabet(): { expires: string; signature: string } {
  for (let second = 2_000_000_000; ; second++) {
    const candidate = signed(second * 1000);
    if (/[-_]/.test(candidate.signature)) return candidate;
  }
}

describe("signed URL spellings", () => {
  const canonical = signedWithUrlAlphabet();

  it("accepts the canonical spelling", () => {
    expect(canonical.signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(signer.check(id, canonical.expires, canonical.signature, now)).toBe("valid");
  });

  it("refuses a padded signature", () => {
    expect(signer.check(id, canonical.expires, `${canonical.signature}=`, now)).toBe("invalid");
  });

  it("refuses the standard base64 alphabet (+/)", () => {
    const standard = canonical.signature.replace(/-/g, "+").replace(/_/g, "/");
    expect(standard).not.toBe(canonical.signature);
    expect(signer.check(id, canonical.expires, standard, now)).toBe("invalid");
  });

  it.each([["!"], ["."], [" "], ["\n"], ["*"]])("refuses a signature with %j inserted", (junk) => {
    const s = canonical.signature;
    const spoiled = `${s.slice(0, 20)}${junk}${s.slice(20)}`;
    expect(signer.check(id, canonical.expires, spoiled, now)).toBe("invalid");
  });

  it("refuses a last character whose unused bits are not zero", () => {
    const s = canonical.signature;
    const last = alphabet.indexOf(s.at(-1) ?? "");
    // 43 characters carry 258 bits for 256: the last character's low two bits are unused.
    expect(last % 4).toBe(0);
    for (const unused of [1, 2, 3]) {
      const sibling = `${s.slice(0, -1)}${alphabet[last + unused]}`;
      // The same bytes as the canonical signature...
      expect(Buffer.from(sibling, "base64url").equals(Buffer.from(s, "base64url"))).toBe(true);
      // ...in another spelling.
      expect(signer.check(id, canonical.expires, sibling, now)).toBe("invalid");
    }
  });

  it("refuses an expiry with leading zeros, even when correctly signed", () => {
    const padded = `0${canonical.expires}`;
    const signature = createHmac("sha256", key).update(`${id}\n${padded}`).digest("base64url");
    expect(signer.check(id, padded, signature, now)).toBe("invalid");
    expect(signer.check(id, "0", signer.url(id, 0).split("signature=")[1], now)).toBe("invalid");
  });
});
