// API keys, their one-way hash, and AES-256-GCM sealing of credentials at rest.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  apiKeyPrefix,
  deriveKey,
  generateApiKey,
  hashApiKey,
  keyHint,
  safeEqual,
  seal,
  UnsealError,
  unseal,
} from "../../src/tenancy/secrets.js";

const master = randomBytes(32);

describe("generateApiKey", () => {
  it("is the ig_ prefix and 32 random bytes in base64url", () => {
    const key = generateApiKey();
    expect(apiKeyPrefix).toBe("ig_");
    expect(key.startsWith("ig_")).toBe(true);
    const body = key.slice(apiKeyPrefix.length);
    expect(body).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // ≥ 256 bits of randomness.
    expect(Buffer.from(body, "base64url").length).toBeGreaterThanOrEqual(32);
  });

  it("never repeats and looks random", () => {
    const keys = Array.from({ length: 2_000 }, generateApiKey);
    expect(new Set(keys).size).toBe(keys.length);
    // Every base64url symbol appears at some position; a fixed or counter-like
    // body would use only a few.
    const symbols = new Set(keys.flatMap((key) => [...key.slice(apiKeyPrefix.length)]));
    expect(symbols.size).toBe(64);
  });
});

describe("hashApiKey", () => {
  it("is SHA-256 in hex", () => {
    expect(hashApiKey("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("is stable for a key and differs between keys", () => {
    const key = generateApiKey();
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(key)).not.toBe(hashApiKey(generateApiKey()));
    expect(hashApiKey(key)).not.toBe(hashApiKey(`${key} `));
  });

  it("does not contain the key", () => {
    const key = generateApiKey();
    const hash = hashApiKey(key);
    expect(hash).not.toContain(key);
    expect(hash).not.toContain(key.slice(apiKeyPrefix.length, apiKeyPrefix.length + 8));
  });
});

describe("keyHint", () => {
  it("shows the prefix and four characters only", () => {
    const key = generateApiKey();
    expect(keyHint(key)).toBe(`${key.slice(0, 7)}…`);
    expect(keyHint(key)).not.toContain(key.slice(7, 12));
  });
});

describe("safeEqual", () => {
  it("is true only for equal strings", () => {
    const key = generateApiKey();
    expect(safeEqual(key, `${key}`)).toBe(true);
    expect(safeEqual("", "")).toBe(true);
    expect(safeEqual("héllo ✓", "héllo ✓")).toBe(true);
    expect(safeEqual(key, generateApiKey())).toBe(false);
    expect(safeEqual(key, key.slice(0, -1))).toBe(false);
    expect(safeEqual(key, `${key}x`)).toBe(false);
    expect(safeEqual("", "a")).toBe(false);
    expect(safeEqual("abc", "abd")).toBe(false);
    expect(safeEqual("ABC", "abc")).toBe(false);
  });
});

describe("deriveKey", () => {
  it("gives a 32-byte key bound to its purpose and master", () => {
    const seal1 = deriveKey(master, "seal");
    expect(seal1).toHaveLength(32);
    expect(deriveKey(master, "seal").equals(seal1)).toBe(true);
    expect(deriveKey(master, "urls").equals(seal1)).toBe(false);
    expect(deriveKey(randomBytes(32), "seal").equals(seal1)).toBe(false);
    expect(seal1.equals(master)).toBe(false);
  });
});

describe("seal / unseal", () => {
  it.each([4, 8, 12, 15])(
    "refuses an auth tag cut down to %i bytes (regression: GCM accepts short tags)",
    (length) => {
      const [version, iv, tag, ciphertext] = seal(master, "hello world").split(".");
      const short = Buffer.from(tag ?? "", "base64url")
        .subarray(0, length)
        .toString("base64url");
      expect(() => unseal(master, [version, iv, short, ciphertext].join("."))).toThrow(UnsealError);
    },
  );

  it.each([
    ["an upstream key", "sk-upstream-0123456789abcdef"],
    ["an empty string", ""],
    ["unicode", "clé secrète ✓ 🔑"],
    ["a long value", "x".repeat(10_000)],
    ["dots", "a.b.c.d"],
  ])("round-trips %s", (_name, plaintext) => {
    expect(unseal(master, seal(master, plaintext))).toBe(plaintext);
  });

  it("is v1.<iv>.<tag>.<ciphertext> with a 96-bit iv and a 128-bit tag", () => {
    const sealed = seal(master, "sk-upstream-secret");
    const parts = sealed.split(".");
    expect(parts).toHaveLength(4);
    const [version, iv, tag, ciphertext] = parts as [string, string, string, string];
    expect(version).toBe("v1");
    for (const part of [iv, tag, ciphertext]) expect(part).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(iv, "base64url")).toHaveLength(12);
    expect(Buffer.from(tag, "base64url")).toHaveLength(16);
    expect(Buffer.from(ciphertext, "base64url")).toHaveLength("sk-upstream-secret".length);
  });

  it("uses a fresh iv each time", () => {
    const a = seal(master, "same");
    const b = seal(master, "same");
    expect(a).not.toBe(b);
    expect(a.split(".")[1]).not.toBe(b.split(".")[1]);
  });

  it("does not contain the plaintext in any encoding", () => {
    const plaintext = "sk-upstream-0123456789abcdef";
    const sealed = seal(master, plaintext);
    expect(sealed).not.toContain(plaintext);
    expect(sealed).not.toContain("0123456789");
    expect(sealed).not.toContain(Buffer.from(plaintext).toString("base64url").slice(0, 12));
    expect(sealed).not.toContain(Buffer.from(plaintext).toString("hex").slice(0, 12));
    const ciphertext = Buffer.from(sealed.split(".")[3] as string, "base64url");
    expect(ciphertext.toString("utf8")).not.toContain("sk-upstream");
  });

  it("fails with a different master key", () => {
    const sealed = seal(master, "secret");
    expect(() => unseal(randomBytes(32), sealed)).toThrow(UnsealError);
  });

  it("fails when any byte of the iv, tag or ciphertext is changed", () => {
    const sealed = seal(master, "sk-upstream-secret");
    const parts = sealed.split(".");
    let attempts = 0;
    for (const index of [1, 2, 3]) {
      const bytes = Buffer.from(parts[index] as string, "base64url");
      for (let i = 0; i < bytes.length; i++) {
        for (const flip of [0x01, 0x80]) {
          const tampered = Buffer.from(bytes);
          tampered[i] = (tampered[i] as number) ^ flip;
          const copy = [...parts];
          copy[index] = tampered.toString("base64url");
          expect(() => unseal(master, copy.join(".")), `part ${index} byte ${i}`).toThrow(
            UnsealError,
          );
          attempts++;
        }
      }
    }
    expect(attempts).toBe(2 * (12 + 16 + "sk-upstream-secret".length));
  });

  it("fails when bytes are added to or removed from the ciphertext", () => {
    const [version, iv, tag, ciphertext] = seal(master, "sk-upstream-secret").split(".") as [
      string,
      string,
      string,
      string,
    ];
    const bytes = Buffer.from(ciphertext, "base64url");
    for (const changed of [
      bytes.subarray(1),
      bytes.subarray(0, -1),
      Buffer.concat([bytes, Buffer.from([0])]),
    ]) {
      expect(() =>
        unseal(master, [version, iv, tag, changed.toString("base64url")].join(".")),
      ).toThrow(UnsealError);
    }
  });

  it("rejects malformed sealed values with UnsealError and no detail", () => {
    const sealed = seal(master, "secret");
    const [, iv, tag, ciphertext] = sealed.split(".");
    for (const bad of [
      "",
      "secret",
      "v1",
      `v1.${iv}`,
      `v1.${iv}.${tag}`,
      `v2.${iv}.${tag}.${ciphertext}`,
      `.${iv}.${tag}.${ciphertext}`,
      `v1..${tag}.${ciphertext}`,
      `v1.${iv}..${ciphertext}`,
    ]) {
      expect(() => unseal(master, bad), JSON.stringify(bad)).toThrow(UnsealError);
    }
    try {
      unseal(randomBytes(32), sealed);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(UnsealError);
      expect((err as Error).message).toBe("sealed value cannot be opened with this master key");
      expect((err as Error).message).not.toContain(sealed);
    }
  });
});
