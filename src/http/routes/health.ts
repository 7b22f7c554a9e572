// Liveness and readiness for orchestrators (Docker HEALTHCHECK, Kubernetes probes).
import type { FastifyPluginAsync } from "fastify";

/** What readiness found; `ready` false answers 503. */
export interface Readiness {
  ready: boolean;
  /** What is missing, for the operator reading the probe (no secrets). */
  details?: Record<string, unknown>;
}

export interface HealthRouteOptions {
  /** Throws or says not ready when the gateway cannot serve (database gone, shutting down, no upstream). */
  ready: () => Readiness | Promise<Readiness>;
}

export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, options) => {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    let readiness: Readiness;
    try {
      readiness = await options.ready();
    } catch {
      readiness = { ready: false, details: { database: "unavailable" } };
    }
    return reply
      .code(readiness.ready ? 200 : 503)
      .send({ status: readiness.ready ? "ready" : "unavailable", ...readiness.details });
  });
};
