// GET /files/images/:id: re-hosted results behind HMAC-signed, expiring URLs.
// No API key: the signature is the capability, as with OpenAI's result URLs.
import type { FastifyPluginAsync } from "fastify";
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import { type BlobStore, filesPath, type UrlSigner } from "../../storage/blobs.js";
import { documented } from "../openapi-docs.js";
import { fileParams, signedUrlQuery, storedImage } from "../openapi-schemas.js";

export interface FilesRouteOptions {
  blobs: BlobStore;
  signer: UrlSigner;
  clock: Clock;
}

export const filesRoutes: FastifyPluginAsync<FilesRouteOptions> = async (app, options) => {
  const { blobs, signer, clock } = options;

  app.get<{ Params: { id: string }; Querystring: { expires?: string; signature?: string } }>(
    `${filesPath}/:id`,
    {
      schema: documented({
        operationId: "getImageFile",
        summary: "Download a re-hosted image",
        description:
          "The `url` of an images answer: signed and expiring, so it needs no API key. Stored images are removed after their URL's lifetime.",
        tags: ["Files"],
        security: "none",
        params: fileParams,
        querystring: signedUrlQuery,
        response: {
          200: {
            description: "The image's bytes.",
            content: storedImage,
          },
        },
        // The bucket (S3) may not answer: a 503 to retry.
        errors: ["url_expired", "invalid_signature", "file_not_found", "dependency_unavailable"],
      }),
    },
    async (request, reply) => {
      const { id } = request.params;
      const now = clock.now();
      const check = signer.check(id, request.query.expires, request.query.signature, now);
      if (check !== "valid") {
        throw gatewayError(check === "expired" ? "url_expired" : "invalid_signature");
      }
      const blob = await blobs.open(id);
      if (!blob) throw gatewayError("file_not_found");
      const maxAge = Math.max(0, Math.floor((Number(request.query.expires) * 1000 - now) / 1000));
      return reply
        .header("content-type", blob.contentType)
        .header("content-length", blob.size)
        .header("cache-control", `private, max-age=${maxAge}, immutable`)
        .header("x-content-type-options", "nosniff")
        .send(blob.stream);
    },
  );
};
