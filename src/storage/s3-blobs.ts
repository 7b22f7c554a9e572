// Re-hosted images in an S3 bucket (AWS S3 or an S3-compatible store: MinIO,
// R2, Ceph), so that several replicas share them. Behaves as the local store
// does wherever a caller can tell (ids, sniffed types, small images as rows,
// images up to inMemoryLimit handed back in memory, base64-friendly chunks,
// BlobTooLargeError leaving nothing), and adds presigned URLs that let clients
// fetch an image from the bucket itself.
//
// Streamed both ways: a large image is uploaded as it arrives (multipart, one
// part in memory at a time) and read back from GetObject's body as a stream.
//
// The client is the caller's (see s3-client.ts). S3-compatible servers need
// `forcePathStyle: true` (most), and do not all accept the SDK's default
// checksums (CRC32 on every request since 3.729): create the client with
// `requestChecksumCalculation: "WHEN_REQUIRED"` and
// `responseChecksumValidation: "WHEN_REQUIRED"`. AWS S3 takes either.
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  type BlobStore,
  base64Chunks,
  blobIdOf,
  contentTypeOf,
  type Intake,
  inMemoryBudget,
  isBlobId,
  keepInMemory,
  type MemoryBudget,
  newBlobBase,
  openSmall,
  PendingWrites,
  type StoredBlob,
  sniffImage,
  takeIn,
} from "./blobs.js";
import type { SmallBlobs } from "./small-blobs.js";

export interface S3BlobStore extends BlobStore {
  /**
   * A presigned GET URL for blob `id`, valid until `expiresAt` (clock ms; S3
   * signs for 7 days at most), when presigned URLs are on and the blob is an
   * object; undefined otherwise (a small image kept as a row, a non-blob id).
   */
  presign(id: string, expiresAt: number): Promise<string | undefined>;
  /** Whether the bucket answers (HeadBucket), for readiness. */
  answers(): Promise<boolean>;
}

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every blob id to make its key; default "images/". */
  keyPrefix?: string;
  /** Where images up to smallBlobLimit go instead of an object each. */
  small?: SmallBlobs | undefined;
  /** For the small rows' age and for presigned URLs' validity. */
  now: () => number;
  /** Whether presign() hands out URLs of the bucket (else undefined). */
  presign?: boolean;
  /** Bytes all puts may collect in memory at once; default inMemoryBudget. */
  inMemoryBudget?: number;
}

/** The longest validity S3 accepts for a presigned URL (SigV4): 7 days. */
export const maxPresignSeconds = 7 * 24 * 3600;
/** S3's smallest multipart part (the last excepted): what one streamed put holds. */
const partSize = 5 * 1024 * 1024;
/** DeleteObjects takes at most this many keys. */
const deleteBatch = 1000;
/** Single deletes at once when a server has no batch delete. */
const deleteConcurrency = 16;
/** A readiness probe gives up after this (the SDK would retry for longer). */
const answerWithinMs = 5_000;

interface Bucket {
  client: S3Client;
  name: string;
  prefix: string;
}

/** Where blobs go in the bucket unless told otherwise (store migrate copies files there). */
export const defaultKeyPrefix = "images/";

export function createS3BlobStore(options: S3BlobStoreOptions): S3BlobStore {
  const { client, small, now } = options;
  const bucket: Bucket = {
    client,
    name: options.bucket,
    prefix: options.keyPrefix ?? defaultKeyPrefix,
  };
  const pending = new PendingWrites();
  const budget: MemoryBudget = { limit: options.inMemoryBudget ?? inMemoryBudget, collecting: 0 };
  const deletes = { batch: true };
  const write = async (id: string, bytes: Buffer) => {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: bucket.prefix + id,
        Body: bytes,
        ContentLength: bytes.length,
        ContentType: contentTypeOf(id),
      }),
    );
  };

  return {
    async put(source, putOptions = {}) {
      const base = newBlobBase();
      const intake = await takeIn(source, putOptions, budget);
      if (intake.kind === "stream") return upload(bucket, base, intake);
      return keepInMemory(base, intake.bytes, { small, now, pending, write });
    },

    async open(id) {
      if (!isBlobId(id)) return undefined;
      await pending.settled(id);
      const row = await openSmall(small, id);
      if (row !== undefined) return row;
      let object: Awaited<ReturnType<typeof getObject>>;
      try {
        object = await getObject(bucket, id);
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
      return {
        // Network reads arrive in any size; delivery encodes base64 per chunk.
        stream: base64Chunks(object.Body as AsyncIterable<Uint8Array>),
        contentType: contentTypeOf(id),
        size: object.ContentLength ?? 0,
      };
    },

    async remove(id) {
      if (!isBlobId(id)) return;
      await pending.settled(id);
      await small?.remove(id);
      await client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: bucket.prefix + id }));
    },

    async sweep(olderThan) {
      let removed = (await small?.sweep(olderThan)) ?? 0;
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket.name,
            Prefix: bucket.prefix,
            ContinuationToken: token,
          }),
        );
        const old: string[] = [];
        for (const object of page.Contents ?? []) {
          const key = object.Key ?? "";
          // Only what this store wrote: a prefix shared with anything else
          // (or none at all) never loses the other objects.
          if (!isBlobId(key.slice(bucket.prefix.length))) continue;
          if ((object.LastModified?.getTime() ?? olderThan) < olderThan) old.push(key);
        }
        removed += await deleteKeys(bucket, old, deletes);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return removed;
    },

    async presign(id, expiresAt) {
      if (options.presign !== true || !isBlobId(id)) return undefined;
      await pending.settled(id);
      if ((await small?.get(id)) !== undefined) return undefined;
      const seconds = Math.floor((expiresAt - now()) / 1000);
      return getSignedUrl(
        client,
        new GetObjectCommand({ Bucket: bucket.name, Key: bucket.prefix + id }),
        { expiresIn: Math.min(maxPresignSeconds, Math.max(1, seconds)) },
      );
    },

    async answers() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket.name }), {
          abortSignal: AbortSignal.timeout(answerWithinMs),
        });
        return true;
      } catch {
        return false;
      }
    },
  };
}

function getObject(bucket: Bucket, id: string) {
  return bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: bucket.prefix + id }));
}

/**
 * Streams a large image into an object as it arrives: a multipart upload of
 * 5 MiB parts (S3's smallest), one at a time, so a put holds about one part.
 * The key is known from the start: the intake has read the image's type.
 */
async function upload(
  bucket: Bucket,
  base: string,
  intake: Intake & { kind: "stream" },
): Promise<StoredBlob> {
  const id = blobIdOf(base, intake.head);
  const key = bucket.prefix + id;
  const multipart = new Upload({
    client: bucket.client,
    params: { Bucket: bucket.name, Key: key, Body: intake.body, ContentType: contentTypeOf(id) },
    queueSize: 1,
    partSize,
    // Parts of a failed upload are aborted: nothing of a refused image is kept.
    leavePartsOnError: false,
  });
  try {
    await multipart.done();
  } catch (err) {
    intake.body.destroy();
    // Should the completion have taken effect after all (its answer lost).
    await bucket.client
      .send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }))
      .catch(() => {});
    // The source's own failure (or BlobTooLargeError) over what the upload
    // made of it, such as a server that cannot abort a multipart upload.
    throw intake.failure() ?? err;
  }
  const contentType = sniffImage(intake.head)?.type;
  return { id, contentType, size: intake.size(), written: Promise.resolve() };
}

/** Deletes `keys`; returns how many went. */
async function deleteKeys(
  bucket: Bucket,
  keys: string[],
  deletes: { batch: boolean },
): Promise<number> {
  let removed = 0;
  for (let at = 0; at < keys.length; at += deleteBatch) {
    const batch = keys.slice(at, at + deleteBatch);
    if (deletes.batch) {
      try {
        const answer = await bucket.client.send(
          new DeleteObjectsCommand({
            Bucket: bucket.name,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        removed += batch.length - (answer.Errors?.length ?? 0);
        continue;
      } catch (err) {
        if (!batchDeleteRefused(err)) throw err;
        // Remembered: this server will not take one later either.
        deletes.batch = false;
      }
    }
    for (let from = 0; from < batch.length; from += deleteConcurrency) {
      await Promise.all(
        batch.slice(from, from + deleteConcurrency).map(async (Key) => {
          await bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key }));
          removed++;
        }),
      );
    }
  }
  return removed;
}

interface ServiceError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

const notFound = (err: unknown): boolean => {
  const { name, $metadata } = (err ?? {}) as ServiceError;
  return name === "NoSuchKey" || name === "NotFound" || $metadata?.httpStatusCode === 404;
};

/**
 * DeleteObjects refused as such: some S3-compatible servers have none (501),
 * and older ones want a Content-MD5 the SDK no longer sends (it sends CRC32).
 */
const batchDeleteRefused = (err: unknown): boolean => {
  const { name, $metadata } = (err ?? {}) as ServiceError;
  return (
    name === "NotImplemented" ||
    name === "MissingContentMD5" ||
    name === "InvalidRequest" ||
    $metadata?.httpStatusCode === 501
  );
};
