// Graceful shutdown: stop accepting (Fastify answers new requests on open
// connections with 503 and /readyz turns unready), let in-flight synchronous
// requests finish for up to the drain timeout, then cut what is left. Cut
// requests lose nothing: their generations stay recorded as running and the
// next start resumes them; an SDK retry after the restart joins them.
import type { FastifyInstance } from "fastify";

export async function closeGracefully(app: FastifyInstance, drainTimeoutMs: number): Promise<void> {
  const drain = setTimeout(() => {
    app.log.warn({ drainTimeoutMs }, "drain timeout reached: closing the remaining connections");
    app.server.closeAllConnections();
  }, drainTimeoutMs);
  drain.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(drain);
  }
}
