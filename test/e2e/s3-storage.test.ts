// Results in S3 (IMAGEGATE_S3_*, an S3-compatible server here): a `url`
// answer is the gateway's signed URL, served from the bucket by any replica
// that shares the master key; with IMAGEGATE_S3_PRESIGNED_URLS it is the
// bucket's own presigned URL; /readyz says when the bucket does not answer.
import { afterEach, describe, expect, it } from "vitest";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";
import { startS3, type TestS3 } from "../helpers/s3.js";

// Larger than a database row takes (128 KB): the image is an object in the bucket.
const imageBytes = 300_000;

let s3: TestS3 | undefined;
let schema: TestSchema | undefined;
const gateways: TestGateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close();
  await s3?.close();
  s3 = undefined;
  await schema?.drop();
  schema = undefined;
});

async function urlAnswer(gateway: TestGateway, prompt: string) {
  const answer = await gateway.client.images.generate({
    model: "nano-banana",
    prompt,
    response_format: "url",
  });
  const url = answer.data?.[0]?.url;
  expect(url).toBeDefined();
  const submitted = gateway.sim.submits.find((task) => task.prompt === prompt);
  return { url: url as string, expected: gateway.sim.image(submitted?.taskId ?? "", 0).bytes };
}

describe("images in S3", { timeout: 60_000 }, () => {
  it("stores results in the bucket and serves them at the gateway's signed URL", async () => {
    s3 = await startS3();
    const gateway = await buildTestApp({ env: s3.env, sim: { imageBytes } });
    gateways.push(gateway);
    const { url, expected } = await urlAnswer(gateway, "into the bucket");
    expect(url.startsWith(`${gateway.url}/files/images/`)).toBe(true);
    const id = new URL(url).pathname.split("/").at(-1) ?? "";
    expect(await s3.keys()).toContain(`images/${id}`);
    const fetched = await fetch(url);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(expected);
  });

  it("hands out presigned URLs of the bucket with IMAGEGATE_S3_PRESIGNED_URLS", async () => {
    s3 = await startS3();
    const gateway = await buildTestApp({
      env: { ...s3.env, IMAGEGATE_S3_PRESIGNED_URLS: "true" },
      sim: { imageBytes },
    });
    gateways.push(gateway);
    const { url, expected } = await urlAnswer(gateway, "presigned");
    expect(url.startsWith(`${s3.endpoint}/${s3.bucket}/images/`)).toBe(true);
    expect(new URL(url).searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    // No key of any kind: the URL alone fetches the image.
    const fetched = await fetch(url);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(expected);
  });

  it("serves a URL one replica handed out from another replica", async () => {
    s3 = await startS3();
    schema = await freshSchema("s3");
    const env = { ...s3.env, IMAGEGATE_DATABASE_URL: schema.url };
    const a = await buildTestApp({ env, sim: { imageBytes } });
    gateways.push(a);
    const b = await buildTestApp({ env, sim: { imageBytes } });
    gateways.push(b);
    const { url, expected } = await urlAnswer(a, "handed out by A");
    const viaB = new URL(url);
    viaB.host = new URL(b.url).host;
    const fetched = await fetch(viaB);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(expected);
    // A signature made for another image does not open this one.
    viaB.pathname = viaB.pathname.replace(/[A-Za-z0-9_-]{22}\./, "AAAAAAAAAAAAAAAAAAAAAA.");
    expect((await fetch(viaB)).status).toBe(403);
  });

  it("is not ready while the bucket does not answer", async () => {
    s3 = await startS3();
    const gateway = await buildTestApp({ env: s3.env });
    gateways.push(gateway);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    await s3.close();
    s3 = undefined;
    const readyz = await fetch(`${gateway.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ status: "unavailable", storage: "unavailable" });
  });
});
