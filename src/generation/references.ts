// Uploaded reference images → what the upstream's `image_url` takes. Two ways,
// chosen by IMAGEGATE_REFERENCE_DELIVERY:
// - "data": inline `data:image/…;base64,…` URIs. Works wherever the gateway
//   runs, but the upstream's site documents only https URLs (UPSTREAM.md).
// - "url": the bytes are stored and the upstream fetches them from a short-lived
//   signed URL under IMAGEGATE_PUBLIC_URL. The documented form, but only works
//   when the upstream can reach that URL.
// "auto" (the default) picks "url" when the public URL is https on a public
// host, else "data": a gateway on localhost or a private network cannot be
// fetched from outside, and one with a public https name can.
import { createReadStream } from "node:fs";
import type { Clock } from "../clock.js";
import { FileDataUri } from "../providers/json-body.js";
import type { BlobStore, UrlSigner } from "../storage/blobs.js";
import type { UploadSpool } from "../storage/upload-spool.js";

export type ReferenceDelivery = "url" | "data";

/** An uploaded image, spooled to disk by the HTTP layer. */
export interface ReferenceImage {
  path: string;
  size: number;
  contentType: string;
}

/** An `image_url` entry: a URL, or a file sent inline as a data: URI. */
export type PublishedReference = string | FileDataUri;

export interface ReferencePublisher {
  readonly delivery: ReferenceDelivery;
  /** One `image_url` entry per image, in order. The files must stay until the submit has gone out. */
  publish(images: readonly ReferenceImage[]): Promise<PublishedReference[]>;
  /** Removes the spooled files (never throws). */
  discard(images: readonly ReferenceImage[]): Promise<void>;
  /**
   * Copies a spooled file into the blob store, where it outlives the submit
   * (and a restart) until removed or swept; its blob id once it is on disk.
   */
  keep(image: ReferenceImage): Promise<string>;
  /** Removes blobs `keep` stored (never throws). */
  forget(ids: readonly string[]): Promise<void>;
}

const privateHost =
  /^(localhost|.*\.localhost|.*\.local|.*\.internal|127\.\d+\.\d+\.\d+|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+|0\.0\.0\.0|\[::1?\]|\[f[cd][0-9a-f]*:.*\])$/i;

/** The delivery "auto" resolves to for this public URL. */
export function resolveDelivery(
  setting: "auto" | ReferenceDelivery,
  publicUrl: string,
): ReferenceDelivery {
  if (setting !== "auto") return setting;
  const url = new URL(publicUrl);
  return url.protocol === "https:" && !privateHost.test(url.hostname) ? "url" : "data";
}

export interface ReferencePublisherOptions {
  delivery: ReferenceDelivery;
  blobs: BlobStore;
  spool: UploadSpool;
  signer: UrlSigner;
  clock: Clock;
  /** How long a reference URL stays valid: the upstream fetches it when the task starts. */
  urlTtlMs: number;
}

export function createReferencePublisher(options: ReferencePublisherOptions): ReferencePublisher {
  const { delivery, blobs, signer, clock } = options;
  return {
    delivery,
    async publish(images) {
      if (delivery === "data") {
        // Encoded from the file while the submit body is sent, never held whole.
        return images.map((image) => new FileDataUri(image.path, image.contentType, image.size));
      }
      const expiresAt = clock.now() + options.urlTtlMs;
      return Promise.all(
        images.map(async (image) => {
          const stored = await blobs.put(createReadStream(image.path));
          await stored.written;
          // The upstream fetches it from the bucket itself when the store presigns.
          return (await blobs.presign?.(stored.id, expiresAt)) ?? signer.url(stored.id, expiresAt);
        }),
      );
    },
    discard: (images) => options.spool.remove(images.map((image) => image.path)),
    async keep(image) {
      const stored = await blobs.put(createReadStream(image.path));
      await stored.written;
      return stored.id;
    },
    async forget(ids) {
      await Promise.all(ids.map((id) => blobs.remove(id).catch(() => {})));
    },
  };
}
