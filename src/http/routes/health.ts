// Liveness and readiness for orchestrators (Docker HEALTHCHECK, Kubernetes probes).
import type { FastifyPluginAsync } from "fastify";
import { documented } from "../openapi-docs.js";
import { livenessSchema, readinessSchema } from "../openapi-schemas.js";

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
  const livenessDocs = documented({
    operationId: "liveness",
    summary: "Liveness: the process answers",
    tags: ["Health"],
    security: "none",
    response: { 200: livenessSchema },
  });
  app.get("/healthz", { schema: livenessDocs }, async () => ({ status: "ok" }));

  const readinessDocs = documented({
    operationId: "readiness",
    summary: "Readiness: the gateway can serve",
    description:
      "Not ready while shutting down, while the database, Redis or the image storage does not answer, or while a model an operator gave channels has none that takes submits; the answer names what is missing.",
    tags: ["Health"],
    security: "none",
    response: {
      200: { description: "Ready.", content: { "application/json": readinessSchema } },
      503: { description: "Not ready.", content: { "application/json": readinessSchema } },
    },
  });
  app.get("/readyz", { schema: readinessDocs }, async (_request, reply) => {
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
