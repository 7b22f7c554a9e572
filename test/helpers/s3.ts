// An S3-compatible server for tests (s3rver, started in process on a free
// port) with one bucket; the gateway reaches it as it would AWS S3, MinIO or
// R2, through IMAGEGATE_S3_* and the SDK's standard credentials.
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";

// s3rver ships no types: the little of it the tests use.
export interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: Array<{ name: string }>;
}) => S3rverInstance;
export const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** IMAGEGATE_S3_* for a gateway on this server. */
  env: Record<string, string>;
  /** The keys in the bucket. */
  keys(): Promise<string[]>;
  close(): Promise<void>;
}

export async function startS3(bucket = "imagegate-test"): Promise<TestS3> {
  // s3rver's fixed credentials; the SDK reads them from the environment, as
  // the gateway's documentation says (AWS_*).
  process.env.AWS_ACCESS_KEY_ID = "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
  const directory = await mkdtemp(join(tmpdir(), "imagegate-s3-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  return {
    endpoint,
    bucket,
    env: {
      IMAGEGATE_S3_BUCKET: bucket,
      IMAGEGATE_S3_ENDPOINT: endpoint,
      IMAGEGATE_S3_FORCE_PATH_STYLE: "true",
    },
    async keys() {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (listed.Contents ?? []).map((object) => object.Key ?? "");
    },
    async close() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
