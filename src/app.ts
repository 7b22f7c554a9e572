// buildApp(config, deps) wires the parts together and returns a Fastify
// instance. No I/O at import time, never listens (main.ts does), and every
// resource it opens is closed in onClose.

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Dispatcher } from "undici";
import { createModelMap } from "./catalog/model-map.js";
import { models as catalogue } from "./catalog/models.js";
import { createChannelRegistry } from "./channels/registry.js";
import { createChannelStore } from "./channels/store.js";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import { toErrorResponse } from "./errors.js";
import { createAdmission } from "./generation/admission.js";
import { createDeliverer } from "./generation/deliver.js";
import { createGenerationService, type GenerationDeps } from "./generation/generate.js";
import { createReferencePublisher, resolveDelivery } from "./generation/references.js";
import { resumeUnfinished } from "./generation/resume.js";
import { callerOf } from "./http/admission.js";
import { tenantAuth } from "./http/auth.js";
import { clientErrorHandler, receiveTimeouts } from "./http/client-errors.js";
import { capConnections } from "./http/connection-cap.js";
import { formOverheadBytes, type IntakeOptions } from "./http/intake.js";
import { lingerOnClose } from "./http/linger.js";
import { registerTenantRateLimit } from "./http/rate-limit.js";
import { adminRoutes } from "./http/routes/admin.js";
import { adminChannelRoutes } from "./http/routes/admin-channels.js";
import { filesRoutes } from "./http/routes/files.js";
import { healthRoutes } from "./http/routes/health.js";
import { imagesRoutes } from "./http/routes/images.js";
import { modelsRoutes } from "./http/routes/models.js";
import { tasksRoutes } from "./http/routes/tasks.js";
import { randomId } from "./random-ids.js";
import { createLocalBlobStore, createUrlSigner } from "./storage/blobs.js";
import { describeMadePrivate, makePrivate } from "./storage/private-files.js";
import { sqliteSmallBlobs } from "./storage/small-blobs.js";
import { createUploadSpool } from "./storage/upload-spool.js";
import { createWriteQueue } from "./storage/write-queue.js";
import { createConcurrencyGate } from "./tenancy/limits.js";
import { checkMasterKey } from "./tenancy/master-key.js";
import { deriveKey } from "./tenancy/secrets.js";
import { openStore } from "./tenancy/store.js";
import { createUploadBudget } from "./tenancy/upload-budget.js";
import { createUsageLedger } from "./tenancy/usage.js";
import { createVault } from "./tenancy/vault.js";
import { createLatencyModel } from "./upstream/latency-model.js";
import { sqliteLatencyStore } from "./upstream/latency-store.js";
import { createPoller, type PollerOptions } from "./upstream/poller.js";
import type { ScheduleTuning } from "./upstream/schedule.js";

export interface AppDeps {
  clock?: Clock;
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

/** An upload still spooled this long after it was written belongs to no live request. */
const uploadOrphanAfterMs = 3_600_000;

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock;
  // The built-in table with the operator's model file over it (read by loadConfig).
  const models = createModelMap(config.modelOverrides);
  const app = Fastify({
    logger: deps.logger ?? {
      level: config.logLevel,
      ...(deps.logDestination ? { stream: deps.logDestination } : {}),
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

  // Before the store opens: SQLite gives its -wal and -shm files the db file's mode.
  const madePrivate = makePrivate(config.dataDir);
  const privacyNote = describeMadePrivate(config.dataDir, madePrivate);
  if (privacyNote) {
    app.log.warn(
      { fixed: madePrivate.fixed.length, failed: madePrivate.failed.length },
      privacyNote,
    );
  }
  const db = openStore(config.dataDir);
  try {
    checkMasterKey(db, config.masterKey);
  } catch (err) {
    db.close();
    throw err;
  }
  // One group commit for everything the gateway writes to its database.
  const writes = createWriteQueue(db, (err) =>
    app.log.error({ err }, "a write to the database failed and was given up"),
  );
  const ledger = createUsageLedger(db, clock, { writes });
  const vault = createVault({
    db,
    clock,
    masterKey: config.masterKey,
  });
  const channelStore = createChannelStore({ db, clock, masterKey: config.masterKey });
  // Every upstream call reports to its channel's breaker; only new submits are stopped by it.
  const channels = createChannelRegistry({
    store: channelStore,
    clock,
    upstreamUrl: config.upstreamUrl,
    upstreamKey: config.upstreamKey,
    maxBodyBytes: config.upstreamMaxBodyBytes,
    dispatcher: deps.upstreamDispatcher,
  });
  const latency = createLatencyModel({
    store: sqliteLatencyStore(db, () => clock.now()),
    clock,
    onError: (err) => app.log.warn({ err }, "learned latencies could not be saved"),
  });
  const poller = createPoller({
    clock,
    latency,
    ...(deps.scheduleTuning ? { tuning: deps.scheduleTuning } : {}),
    ...deps.retryTiming?.poller,
  });
  const blobs = createLocalBlobStore(join(config.dataDir, "images"), {
    small: sqliteSmallBlobs(db, writes),
    now: () => clock.now(),
  });
  const spool = createUploadSpool(join(config.dataDir, "uploads"));
  const gate = createConcurrencyGate();
  if (!config.masterKey) {
    app.log.warn(
      "IMAGEGATE_MASTER_KEY is not set: image URLs are signed with a per-process key and stop working after a restart",
    );
  }
  const signer = createUrlSigner(
    config.masterKey ? deriveKey(config.masterKey, "url-signing") : randomBytes(32),
    config.publicUrl,
  );
  const generation = createGenerationService({
    channels,
    maxResultBytes: config.maxResultBytes,
    poller,
    blobs,
    clock,
    log: app.log,
    recorder: ledger,
    models,
    ...deps.retryTiming?.generation,
  });
  const referenceDelivery = resolveDelivery(config.referenceDelivery, config.publicUrl);
  const admission = createAdmission({
    generation,
    references: createReferencePublisher({
      delivery: referenceDelivery,
      blobs,
      spool,
      signer,
      clock,
      urlTtlMs: Math.max(3_600_000, config.maxWaitMs),
    }),
    vault,
    gate,
    ledger,
    clock,
    log: app.log,
    maxWaitMs: config.maxWaitMs,
    models,
  });
  // What refuses an image request before its body is read (http/intake.ts).
  const intake: IntakeOptions = {
    gate,
    budget: createUploadBudget({ totalBytes: config.maxUploadsInFlightBytes }),
    // Inline data: URIs grow uploads by 4/3 in the submit body: past what the
    // upstream takes, a form is refused by its declared length, unread.
    maxMultipartBytes:
      (referenceDelivery === "data"
        ? Math.min(config.maxUploadTotalBytes, Math.floor((config.upstreamMaxBodyBytes * 3) / 4))
        : config.maxUploadTotalBytes) + formOverheadBytes,
    maxJsonBytes: config.maxBodyBytes,
    mayJoin: (request) => admission.mayJoin(callerOf(request)),
  };
  const deliverer = createDeliverer({ blobs, signer, clock, urlTtlMs: config.urlTtlMs });

  app.decorateRequest("tenant", null);
  app.decorateRequest("intake", null);
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });

  app.setErrorHandler((err, request, reply) => {
    const response = toErrorResponse(err);
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
    return reply.code(404).send({
      error: {
        message: `Unknown request URL: ${request.method} ${request.url.split("?")[0]}.`,
        type: "invalid_request_error",
        param: null,
        code: "unknown_url",
      },
    });
  });

  let closing = false;
  const upstreamModels = catalogue.map((model) => model.id);
  await app.register(healthRoutes, {
    ready: () => {
      if (closing) return { ready: false, details: { shutting_down: true } };
      if (db.prepare("SELECT 1 AS ok").get() === undefined) {
        return { ready: false, details: { database: "unavailable" } };
      }
      // Ready while every model an operator gave channels has one that takes submits.
      const unserved = channels.unservedModels(upstreamModels);
      return unserved.length === 0
        ? { ready: true }
        : { ready: false, details: { models_without_channel: unserved } };
    },
  });
  await app.register(filesRoutes, { blobs, signer, clock });
  await app.register(
    async (v1) => {
      v1.addHook("onRequest", tenantAuth(vault));
      await registerTenantRateLimit(v1);
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
  }

  // Re-hosted images live as long as their URLs; sweep the rest regularly.
  const sweepEveryMs = Math.min(config.urlTtlMs / 4, 10 * 60_000);
  let sweeper: ReturnType<Clock["setTimeout"]> | undefined;
  // The sweep under way, awaited at close so it never outlives the data dir.
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    sweeping = blobs
      .sweep(clock.now() - config.urlTtlMs)
      .then((removed) => {
        if (removed > 0) app.log.info({ removed }, "expired images removed");
      })
      .catch((err: unknown) => app.log.warn({ err }, "image sweep failed"))
      // Uploads wait on disk only until their submit: an old one was left by
      // a request that never finished (a crash).
      .then(() => spool.sweep(clock.now() - uploadOrphanAfterMs))
      .catch((err: unknown) => app.log.warn({ err }, "upload spool sweep failed"))
      .finally(() => {
        if (!closing) {
          sweeper = clock.setTimeout(sweep, sweepEveryMs);
          sweeper.unref?.();
        }
      });
  };
  app.addHook("onReady", async () => {
    sweep();
    resumeUnfinished({ ledger, vault, generation, channels, log: app.log, gate });
  });

  app.addHook("preClose", async () => {
    closing = true;
  });
  // Fastify closes the connections that are idle when close() starts; a
  // keep-alive connection whose response was still finishing at that moment
  // would otherwise hold close() open until the client's keep-alive ends.
  app.addHook("onResponse", async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  app.addHook("onClose", async () => {
    if (sweeper) clock.clearTimeout(sweeper);
    await sweeping;
    // What is still running stays recorded as running; the next start resumes it.
    generation.close();
    poller.close();
    await channels.close();
    // Downloads that were under way are stored and recorded before the store closes.
    await generation.settled();
    latency.close();
    writes.close();
    db.close();
  });

  return app;
}
