// buildApp(config, deps) wires the parts together and returns a Fastify
// instance: the named plugins that own the resources (plugins/: store,
// channels, images, generation; each closes what it opened, in the reverse
// order of registration), then the HTTP layer. No I/O at import time, and it
// never listens (main.ts does).
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Dispatcher } from "undici";
import { createModelMap } from "./catalog/model-map.js";
import { models as catalogue } from "./catalog/models.js";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import { gatewayError, toErrorResponse } from "./errors.js";
import type { GenerationDeps } from "./generation/generate.js";
import { callerOf } from "./http/admission.js";
import { tenantAuth } from "./http/auth.js";
import { clientErrorHandler, receiveTimeouts } from "./http/client-errors.js";
import { capConnections } from "./http/connection-cap.js";
import { formOverheadBytes, type IntakeOptions } from "./http/intake.js";
import { lingerOnClose } from "./http/linger.js";
import { recordHttpMetrics } from "./http/metrics.js";
import { registerOpenApi } from "./http/openapi.js";
import { registerTenantRateLimit } from "./http/rate-limit.js";
import { adminRoutes } from "./http/routes/admin.js";
import { adminChannelRoutes } from "./http/routes/admin-channels.js";
import { adminGenerationRoutes } from "./http/routes/admin-generations.js";
import { consoleRoutes } from "./http/routes/console.js";
import { filesRoutes } from "./http/routes/files.js";
import { healthRoutes } from "./http/routes/health.js";
import { imagesRoutes } from "./http/routes/images.js";
import { metricsRoutes } from "./http/routes/metrics.js";
import { modelsRoutes } from "./http/routes/models.js";
import { tasksRoutes } from "./http/routes/tasks.js";
import { createMetrics } from "./observability/metrics.js";
import { createTracing, type GatewayTracerProvider } from "./observability/tracing.js";
import { channelsPlugin } from "./plugins/channels.js";
import { generationPlugin } from "./plugins/generation.js";
import { imagesPlugin } from "./plugins/images.js";
import { limitsPlugin } from "./plugins/limits.js";
import { storePlugin } from "./plugins/store.js";
import { tracingPlugin } from "./plugins/tracing.js";
import { randomId } from "./random-ids.js";
import { unavailableDependency } from "./stores/unavailable.js";
import { createUploadBudget } from "./tenancy/upload-budget.js";
import type { PollerOptions } from "./upstream/poller.js";
import type { ScheduleTuning } from "./upstream/schedule.js";

export interface AppDeps {
  clock?: Clock;
  /**
   * Where spans go (tests: an in-memory exporter); default an OTLP exporter
   * when OTEL_EXPORTER_OTLP_ENDPOINT is set, else tracing is off. The caller
   * keeps an injected provider: the gateway flushes it at close, never shuts it down.
   */
  tracerProvider?: GatewayTracerProvider;
  /** The upstream dispatcher (a MockAgent in unit tests); default an undici Pool. */
  upstreamDispatcher?: Dispatcher;
  /** Fastify logger options; default pino at config.logLevel with secrets redacted. */
  logger?: FastifyServerOptions["logger"];
  /** Where the default logger writes (default stdout); tests point it at a file. */
  logDestination?: { write(line: string): void };
  /** The read schedule's constants (tests make it denser); default defaultTuning. */
  scheduleTuning?: ScheduleTuning;
  /** Retry and confirmation waits (tests shorten them); default the production ones. */
  retryTiming?: {
    poller?: Pick<PollerOptions, "notFoundDelayMs" | "errorBackoffMs">;
    generation?: Pick<
      GenerationDeps,
      "submitRetryDelaysMs" | "downloadRetryDelaysMs" | "recordRetryDelaysMs"
    >;
  };
}

/** Everything a log line must never show. */
export const redactPaths = [
  "req.headers.authorization",
  "headers.authorization",
  "authorization",
  "api_key",
  "*.api_key",
  "upstream_key",
  "*.upstream_key",
  "credential",
  "*.credential",
];

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock;
  // The built-in table with the operator's model file over it (read by loadConfig).
  const models = createModelMap(config.modelOverrides);
  const tracing = await createTracing(config.tracing, deps.tracerProvider);
  const app = Fastify({
    logger: deps.logger ?? {
      level: config.logLevel,
      ...(deps.logDestination ? { stream: deps.logDestination } : {}),
      // The trace of the work a line is about; no work per line when tracing is off.
      ...(tracing ? { mixin: tracing.logFields } : {}),
      redact: { paths: redactPaths, censor: "[redacted]" },
      serializers: {
        // Signed file URLs carry their capability in the query: log paths only.
        req: (req: { method: string; url: string; ip?: string }) => ({
          method: req.method,
          url: req.url.split("?")[0],
          remoteAddress: req.ip,
        }),
      },
    },
    bodyLimit: config.maxBodyBytes,
    // A request's headers and body must arrive within IMAGEGATE_BODY_TIMEOUT_MS
    // (a 408 in the OpenAI shape otherwise); its response may take as long as
    // a synchronous generation does: see http/client-errors.ts.
    ...receiveTimeouts(config.bodyTimeoutMs),
    clientErrorHandler: clientErrorHandler(config.bodyTimeoutMs),
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && requestIdPattern.test(given)
        ? given
        : `req_${randomId(12).toString("hex")}`;
    },
  });
  capConnections(app.server, config.maxConnections, app.log);

  // The parts, each a named plugin that closes what it opened. Fastify closes
  // them in the reverse order: the sweeper and the generations first, then the
  // upstream connections, the store last.
  // Read at each scrape: the parts below exist by then.
  const metrics = createMetrics(
    {
      tasksInFlight: () => app.generation.service.inFlight(),
      circuits: () =>
        app.channels.shared().map((channel) => ({
          channel: channel.id,
          open: app.channels.health(channel.id).breaker === "open",
        })),
    },
    { tenantLabels: config.metricsTenantLabels },
  );
  // First: the request span sees every route, and its flush closes last.
  if (tracing) await app.register(tracingPlugin, { tracing });
  await app.register(storePlugin, { config, clock });
  await app.register(limitsPlugin, { config });
  await app.register(channelsPlugin, {
    config,
    clock,
    dispatcher: deps.upstreamDispatcher,
    traffic: metrics.traffic,
  });
  await app.register(imagesPlugin, { config, clock });
  await app.register(generationPlugin, {
    config,
    clock,
    models,
    scheduleTuning: deps.scheduleTuning,
    retryTiming: deps.retryTiming,
    generations: metrics.generations,
    answered: metrics.results,
    tracer: tracing?.steps,
  });
  const { ledger, vault, channelStore } = app.store;
  const { blobs, spool, signer } = app.images;
  const channels = app.channels;
  const { service: generation, admission, deliverer, gate, referenceDelivery } = app.generation;

  // What refuses an image request before its body is read (http/intake.ts).
  const intake: IntakeOptions = {
    gate,
    budget: createUploadBudget({
      totalBytes: config.maxUploadsInFlightBytes,
      shares: app.limits.uploadShares,
    }),
    // Inline data: URIs grow uploads by 4/3 in the submit body: past what the
    // upstream takes, a form is refused by its declared length, unread.
    maxMultipartBytes:
      (referenceDelivery === "data"
        ? Math.min(config.maxUploadTotalBytes, Math.floor((config.upstreamMaxBodyBytes * 3) / 4))
        : config.maxUploadTotalBytes) + formOverheadBytes,
    maxJsonBytes: config.maxBodyBytes,
    mayJoin: (request) => admission.mayJoin(callerOf(request)),
  };

  app.decorateRequest("tenant", null);
  app.decorateRequest("intake", null);
  recordHttpMetrics(app, metrics);
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });

  app.setErrorHandler((err, request, reply) => {
    // A shared engine that does not answer is a 503 with retry-after, not a 500.
    const response = toErrorResponse(unavailableDependency(err) ?? err);
    // The tenant is named in the line itself: a child logger per request
    // would cost memory on every held request.
    const tenant = request.tenant?.id;
    if (response.status >= 500) request.log.error({ err, tenant }, "request failed");
    else request.log.info({ code: response.body.error.code, tenant }, response.body.error.message);
    // A body refused before it was read in full is not read on: the
    // connection closes after the answer (a hostile upload costs nothing more).
    if (!request.raw.complete) {
      reply.header("connection", "close");
      lingerOnClose(request.raw);
    }
    return reply.code(response.status).headers(response.headers).send(response.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const response = toErrorResponse(gatewayError("unknown_url", { method: request.method, path }));
    return reply.code(response.status).headers(response.headers).send(response.body);
  });

  // Before the routes: the document is made of the routes as they are added.
  await registerOpenApi(app, { publicUrl: config.publicUrl });

  let closing = false;
  const upstreamModels = catalogue.map((model) => model.id);
  await app.register(healthRoutes, {
    ready: async () => {
      if (closing) return { ready: false, details: { shutting_down: true } };
      // Which shared engine is missing, for the operator reading the probe.
      const [database, redis, storage] = await Promise.all([
        app.store.answers(),
        app.limits.answers(),
        blobs.answers?.() ?? true,
      ]);
      if (!database || !redis || !storage) {
        return {
          ready: false,
          details: {
            ...(database ? {} : { database: "unavailable" }),
            ...(redis ? {} : { redis: "unavailable" }),
            ...(storage ? {} : { storage: "unavailable" }),
          },
        };
      }
      // Ready while every model an operator gave channels has one that takes submits.
      const unserved = channels.unservedModels(upstreamModels);
      return unserved.length === 0
        ? { ready: true }
        : { ready: false, details: { models_without_channel: unserved } };
    },
  });
  await app.register(filesRoutes, { blobs, signer, clock });
  const scrapeTokens = [config.adminToken, config.metricsToken].filter(
    (token): token is string => token !== undefined,
  );
  if (scrapeTokens.length > 0) {
    await app.register(metricsRoutes, { metrics, tokens: scrapeTokens });
  }
  await app.register(
    async (v1) => {
      v1.addHook("onRequest", tenantAuth(vault));
      await registerTenantRateLimit(v1, app.limits.rateLimitStore);
      // Limits are set per route (uploads.ts); fields here are only defaults.
      await v1.register(multipart, { limits: { fileSize: config.maxUploadBytes } });
      await v1.register(imagesRoutes, {
        generation,
        admission,
        deliverer,
        clock,
        uploadLimits: {
          maxFileBytes: config.maxUploadBytes,
          maxFiles: models.maxReferenceImages(),
          maxTotalBytes: config.maxUploadTotalBytes,
        },
        spool,
        intake,
        variationModel: config.variationModel,
        masks: config.masks,
        models,
      });
      await v1.register(tasksRoutes, {
        generation,
        admission,
        intake,
        ledger,
        blobs,
        clock,
        publicUrl: config.publicUrl,
      });
      await v1.register(modelsRoutes, { models });
    },
    { prefix: "/v1" },
  );
  if (config.adminToken) {
    await app.register(adminChannelRoutes, {
      prefix: "/admin",
      store: channelStore,
      registry: channels,
      ledger,
      clock,
      adminToken: config.adminToken,
    });
    await app.register(adminRoutes, {
      prefix: "/admin",
      vault,
      ledger,
      clock,
      adminToken: config.adminToken,
      models,
    });
    await app.register(adminGenerationRoutes, {
      prefix: "/admin",
      ledger,
      generation,
      channels,
      clock,
      adminToken: config.adminToken,
      startedAt: clock.now(),
    });
    // The console signs in with the admin token: without one it has nothing to show.
    await app.register(consoleRoutes);
  }

  app.addHook("preClose", async () => {
    closing = true;
  });
  // Fastify closes the connections that are idle when close() starts; a
  // keep-alive connection whose response was still finishing at that moment
  // would otherwise hold close() open until the client's keep-alive ends.
  app.addHook("onResponse", async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  return app;
}
