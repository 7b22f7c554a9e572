// POST /v1/images/generations: parse, check, hand to the generation use case,
// deliver as OpenAI does.
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import type { Clock } from "../../clock.js";
import { GatewayError } from "../../errors.js";
import type { Deliverer, Delivery } from "../../generation/deliver.js";
import type { GenerationService } from "../../generation/generate.js";
import { assertModelAllowed, type ConcurrencyGate } from "../../tenancy/limits.js";
import type { UsageLedger } from "../../tenancy/usage.js";
import type { Vault } from "../../tenancy/vault.js";
import { tenantOf } from "../auth.js";
import { imageRequestSchema, parseBody } from "../schemas.js";
import { sendEventStream } from "../sse.js";

export interface ImagesRouteOptions {
  generation: GenerationService;
  deliverer: Deliverer;
  vault: Vault;
  gate: ConcurrencyGate;
  ledger: UsageLedger;
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
  const { generation, deliverer, vault, gate, ledger, clock } = options;

  app.post("/images/generations", async (request, reply) => {
    const receivedAt = clock.now();
    const tenant = tenantOf(request);
    const body = parseBody(imageRequestSchema, request.body);
    // Every check that can refuse the request runs before anything is submitted.
    const translation = generation.translate(body);
    assertModelAllowed(tenant.models, translation.model.spec.id, translation.model.requested);
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
    // The slot is held until the response is over, however it ends (the raw
    // response's "close" fires on success, error and client disconnect).
    const release = gate.acquire(tenant.id, tenant.maxConcurrent);
    reply.raw.once("close", release);
    // Past the daily image budget this is a 429; otherwise the images are
    // reserved and the generation is recorded for usage.
    const recordId = ledger.reserve({
      tenant,
      model: translation.model.spec.id,
      requestedModel: translation.model.requested,
      n: translation.n,
    });
    const command = { request: body, credential, receivedAt, recordId };
    if (body.stream === true) {
      return sendEventStream(reply, clock, async function* () {
        const result = await generation.generate(command, translation);
        yield* deliverer.events(result, "image_generation");
      });
    }
    const result = await generation.generate(command, translation);
    return sendDelivery(reply, await deliverer.deliver(result, translation.responseFormat));
  });
};
