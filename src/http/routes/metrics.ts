// GET /metrics: the Prometheus exposition, for a Bearer token only: the admin
// token, or IMAGEGATE_METRICS_TOKEN so that the scraper need not hold the
// admin token. Neither configured: there is no such route.
import type { FastifyPluginAsync } from "fastify";
import { gatewayError } from "../../errors.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import { safeEqual } from "../../tenancy/secrets.js";
import { bearerToken } from "../auth.js";
import { documented } from "../openapi-docs.js";
import { metricsText } from "../openapi-schemas.js";

export interface MetricsRouteOptions {
  metrics: GatewayMetrics;
  /** Tokens that may scrape (the admin token, the metrics token); at least one. */
  tokens: readonly string[];
}

export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  const docs = documented({
    operationId: "metrics",
    summary: "Prometheus metrics",
    description: "Served only when IMAGEGATE_ADMIN_TOKEN or IMAGEGATE_METRICS_TOKEN is set.",
    tags: ["Metrics"],
    security: "metrics",
    response: {
      200: { description: "The exposition.", content: { "text/plain": metricsText } },
    },
  });
  app.get("/metrics", { schema: docs }, async (request, reply) => {
    const token = bearerToken(request);
    // Every token compared, in constant time: which one matched is not told.
    const allowed =
      token !== undefined &&
      options.tokens.map((candidate) => safeEqual(token, candidate)).some(Boolean);
    if (!allowed) throw gatewayError("invalid_api_key", { admin: true });
    const { contentType, body } = await options.metrics.scrape();
    return reply.header("content-type", contentType).send(body);
  });
};
