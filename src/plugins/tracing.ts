// The request's span, from @fastify/otel (Fastify's own instrumentation) fed
// by the gateway's tracer provider, and the provider's flush at close.
// Registered first, only when tracing is on: its onRoute hook must see every
// route, and it closes last, after the generations have ended their spans.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { generationIdAttribute } from "../generation/telemetry.js";
import type { Tracing } from "../observability/tracing.js";

export const tracingPluginName = "imagegate-tracing";

export interface TracingPluginOptions {
  tracing: Tracing;
}

async function tracingParts(app: FastifyInstance, options: TracingPluginOptions): Promise<void> {
  const { tracing } = options;
  // Loaded only when tracing is on.
  const { FastifyOtelInstrumentation } = await import("@fastify/otel");
  const instrumentation = new FastifyOtelInstrumentation({
    // The request and its handler: a span per hook would outnumber the generation's own steps.
    instrumentHooks: false,
    // A thrown error's message and stack can carry internals (a database's
    // words); the gateway's own steps mark their failures by error code.
    recordExceptions: false,
    requestHook(span, request) {
      span.updateName(`${request.method} ${request.routeOptions.url ?? "unmatched"}`);
      // Signed file URLs carry their capability in the query: the path only, as in the logs.
      span.setAttribute("url.path", request.url.split("?")[0] ?? "");
    },
  });
  instrumentation.setTracerProvider(tracing.provider);
  await app.register(instrumentation.plugin());
  // The gateway's task id on the request's span too, where a route named it.
  app.addHook("onSend", async (request, reply, payload) => {
    const taskId = reply.getHeader("x-imagegate-task-id");
    if (typeof taskId === "string") {
      request.opentelemetry().span?.setAttribute(generationIdAttribute, taskId);
    }
    return payload;
  });
  app.addHook("onClose", async () => {
    instrumentation.disable();
    try {
      await tracing.close();
    } catch (err) {
      app.log.warn({ err }, "traces could not be exported at close");
    }
  });
}

export const tracingPlugin = fp(tracingParts, { name: tracingPluginName, fastify: "5.x" });
