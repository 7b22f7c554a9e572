// Where images live: re-hosted results (small ones as database rows, the rest
// as files in the data dir, or objects in S3 with IMAGEGATE_S3_BUCKET), uploads
// spooled until their submit, and the signer of their URLs.
// Expired results and orphaned uploads are swept from here on a timer that
// stops (and is waited for) at close, so that no sweep outlives the data dir.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import {
  type BlobStore,
  createLocalBlobStore,
  createUrlSigner,
  type UrlSigner,
} from "../storage/blobs.js";
import { createS3BlobStore } from "../storage/s3-blobs.js";
import { createS3Client } from "../storage/s3-client.js";
import { createUploadSpool, type UploadSpool } from "../storage/upload-spool.js";
import { deriveKey } from "../tenancy/secrets.js";
import { storePluginName } from "./store.js";

export interface ImageParts {
  blobs: BlobStore;
  spool: UploadSpool;
  signer: UrlSigner;
}

declare module "fastify" {
  interface FastifyInstance {
    images: ImageParts;
  }
}

export const imagesPluginName = "imagegate-images";

/** An upload still spooled this long after it was written belongs to no live request. */
const uploadOrphanAfterMs = 3_600_000;

export interface ImagesPluginOptions {
  config: Config;
  clock: Clock;
}

async function images(app: FastifyInstance, { config, clock }: ImagesPluginOptions): Promise<void> {
  const s3 = config.s3;
  const s3Client = s3 === undefined ? undefined : createS3Client(s3);
  const blobs: BlobStore =
    s3 === undefined || s3Client === undefined
      ? createLocalBlobStore(join(config.dataDir, "images"), {
          small: app.store.smallBlobs,
          now: () => clock.now(),
        })
      : createS3BlobStore({
          client: s3Client,
          bucket: s3.bucket,
          // Presigned URLs point into the bucket: every image goes there then.
          small: s3.presignedUrls ? undefined : app.store.smallBlobs,
          now: () => clock.now(),
          presign: s3.presignedUrls,
        });
  if (s3Client !== undefined) {
    app.addHook("onClose", async () => s3Client.destroy());
  }
  const spool = createUploadSpool(join(config.dataDir, "uploads"));
  if (!config.masterKey) {
    app.log.warn(
      "IMAGEGATE_MASTER_KEY is not set: image URLs are signed with a per-process key and stop working after a restart",
    );
  }
  const signer = createUrlSigner(
    config.masterKey ? deriveKey(config.masterKey, "url-signing") : randomBytes(32),
    config.publicUrl,
  );
  app.decorate("images", { blobs, spool, signer });

  // Re-hosted images live as long as their URLs; sweep the rest regularly.
  const sweepEveryMs = Math.min(config.urlTtlMs / 4, 10 * 60_000);
  let sweeper: ReturnType<Clock["setTimeout"]> | undefined;
  let stopped = false;
  // The sweep under way, awaited at close so it never outlives the data dir.
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    sweeping = blobs
      .sweep(clock.now() - config.urlTtlMs)
      .then((removed) => {
        if (removed > 0) app.log.info({ removed }, "expired images removed");
      })
      .catch((err: unknown) => app.log.warn({ err }, "image sweep failed"))
      // Uploads wait on disk only until their submit: an old one was left by
      // a request that never finished (a crash).
      .then(() => spool.sweep(clock.now() - uploadOrphanAfterMs))
      .catch((err: unknown) => app.log.warn({ err }, "upload spool sweep failed"))
      .finally(() => {
        if (!stopped) {
          sweeper = clock.setTimeout(sweep, sweepEveryMs);
          sweeper.unref?.();
        }
      });
  };
  app.addHook("onReady", async () => sweep());
  app.addHook("preClose", async () => {
    stopped = true;
  });
  app.addHook("onClose", async () => {
    if (sweeper) clock.clearTimeout(sweeper);
    await sweeping;
  });
}

export const imagesPlugin = fp(images, {
  name: imagesPluginName,
  dependencies: [storePluginName],
  fastify: "5.x",
});
