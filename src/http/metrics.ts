// What HTTP contributes to the metrics: every answer counted by route and
// status and timed, image requests held while their callers wait, and the
// bytes written to clients. Route labels are Fastify's route patterns
// (`/v1/images/tasks/:id`), never raw URLs: their number stays bounded.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { GatewayMetrics } from "../observability/metrics.js";

const routeOf = (request: FastifyRequest) => request.routeOptions.url ?? "unmatched";

export function recordHttpMetrics(app: FastifyInstance, metrics: GatewayMetrics): void {
  app.addHook("onRequest", async (request, reply) => {
    const socket = request.raw.socket;
    const before = socket?.bytesWritten ?? 0;
    const held = routeOf(request).startsWith("/v1/images/");
    if (held) metrics.heldRequests.inc();
    let done = false;
    // Once, however the answer ends (sent, or the client gone first).
    reply.raw.once("close", () => {
      if (done) return;
      done = true;
      if (held) metrics.heldRequests.dec();
      const written = (socket?.bytesWritten ?? before) - before;
      if (written > 0) metrics.bytesSent.inc(written);
    });
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = routeOf(request);
    const status = String(reply.statusCode);
    if (metrics.tenantLabels) {
      metrics.httpRequests.inc({ route, status, tenant: request.tenant?.id ?? "" });
    } else metrics.httpRequests.inc({ route, status });
    metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });
}
