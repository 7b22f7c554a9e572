// POST /v1/images/generations: parse, check, hand to the generation use case,
// deliver as OpenAI does.
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import type { Clock } from "../../clock.js";
import { GatewayError, InvalidRequestError } from "../../errors.js";
import type { Deliverer, Delivery } from "../../generation/deliver.js";
import type { GenerationService } from "../../generation/generate.js";
import type { Vault } from "../../tenancy/vault.js";
import { tenantOf } from "../auth.js";
import { imageRequestSchema, parseBody } from "../schemas.js";

export interface ImagesRouteOptions {
  generation: GenerationService;
  deliverer: Deliverer;
  vault: Vault;
  clock: Clock;
}

export function sendDelivery(reply: FastifyReply, delivery: Delivery): FastifyReply {
  if (delivery.kind === "json") return reply.send(delivery.body);
  return reply
    .header("content-type", "application/json")
    .header("content-length", delivery.contentLength)
    .send(delivery.stream);
}

export const imagesRoutes: FastifyPluginAsync<ImagesRouteOptions> = async (app, options) => {
  const { generation, deliverer, vault, clock } = options;

  app.post("/images/generations", async (request, reply) => {
    const receivedAt = clock.now();
    const tenant = tenantOf(request);
    const body = parseBody(imageRequestSchema, request.body);
    if (body.stream === true) {
      throw new InvalidRequestError(
        "Streaming image generation is not supported by this gateway; omit stream or set it to false.",
        "stream",
        "unsupported_value",
      );
    }
    // Every check that can refuse the request runs before anything is submitted.
    const translation = generation.translate(body);
    const credential = vault.upstreamCredential(tenant);
    if (credential === undefined) {
      throw new GatewayError({
        status: 500,
        type: "server_error",
        code: "upstream_credential_missing",
        message:
          "No upstream credential is configured for this tenant (set IMAGEGATE_UPSTREAM_KEY or the tenant's upstream_key).",
        retryable: false,
      });
    }
    const result = await generation.generate(
      { request: body, credential, receivedAt },
      translation,
    );
    return sendDelivery(reply, deliverer.deliver(result, translation.responseFormat));
  });
};
