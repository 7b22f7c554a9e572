// Liveness and readiness for orchestrators (Docker HEALTHCHECK, Kubernetes probes).
import type { FastifyPluginAsync } from "fastify";

export interface HealthRouteOptions {
  /** Throws or returns false when the gateway cannot serve (database gone, shutting down). */
  ready: () => boolean;
}

export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, options) => {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    let ready = false;
    try {
      ready = options.ready();
    } catch {
      ready = false;
    }
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "unavailable" });
  });
};
