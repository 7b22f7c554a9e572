// GET /metrics: the Prometheus exposition, for a Bearer token only: the admin
// token, or IMAGEGATE_METRICS_TOKEN so that the scraper need not hold the
// admin token. Neither configured: there is no such route.
import type { FastifyPluginAsync } from "fastify";
import { gatewayError } from "../../errors.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import { safeEqual } from "../../tenancy/secrets.js";
import { bearerToken } from "../auth.js";

export interface MetricsRouteOptions {
  metrics: GatewayMetrics;
  /** Tokens that may scrape (the admin token, the metrics token); at least one. */
  tokens: readonly string[];
}

export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  app.get("/metrics", async (request, reply) => {
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
