// Regression (issue 10, finding 4), through GET /files/images/:id: a padded
// copy of a valid signature used to fetch the image; it now gets the refusal
// a wrong signature gets.
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLocalBlobStore, createUrlSigner } from "../../src/storage/blobs.js";
import { deriveKey } from "../../src/tenancy/secrets.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);

/** A re-hosted image in the gateway's data dir and its URL, signed as the gateway signs. */
async function rehosted(gateway: TestGateway): Promise<URL> {
  const blobs = createLocalBlobStore(join(gateway.config.dataDir, "images"));
  const stored = await blobs.put(Readable.from([png]));
  await stored.written;
  const { masterKey, publicUrl, urlTtlMs } = gateway.config;
  if (!masterKey) throw new Error("the test gateway has a master key");
  const signer = createUrlSigner(deriveKey(masterKey, "url-signing"), publicUrl);
  return new URL(signer.url(stored.id, Date.now() + urlTtlMs));
}

async function answer(url: URL): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

describe("GET /files/images/:id signature spellings", () => {
  it("refuses a padded signature as it refuses a wrong one", async () => {
    gw = await buildTestApp();
    const url = await rehosted(gw);
    // The canonical URL serves the image: the signature below is the gateway's own.
    const served = await fetch(url);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);
    const signature = url.searchParams.get("signature") ?? "";
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const wrong = new URL(url);
    wrong.searchParams.set("signature", "A".repeat(43));
    const padded = new URL(url);
    padded.searchParams.set("signature", `${signature}=`);

    const refusal = await answer(wrong);
    expect(refusal.status).toBe(403);
    expect(JSON.parse(refusal.body)).toMatchObject({ error: { code: "invalid_signature" } });
    expect(await answer(padded)).toEqual(refusal);
  });
});
