// The use case: the poller and its learned latencies, the generation service,
// admission (limits, retry joining, reservation) and delivery. At start it
// resumes what the last process left running; at close it stops recording
// (what runs stays recorded as running, for the next start), stops the
// poller, and waits until every outcome under way is written.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { ModelMap } from "../catalog/model-map.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { type AdmissionService, createAdmission } from "../generation/admission.js";
import { createDeliverer, type Deliverer } from "../generation/deliver.js";
import {
  createGenerationService,
  type GenerationDeps,
  type GenerationService,
} from "../generation/generate.js";
import {
  createReferencePublisher,
  type ReferenceDelivery,
  resolveDelivery,
} from "../generation/references.js";
import { resumeRecords, resumeUnfinished } from "../generation/resume.js";
import { startTakeover, type Takeover } from "../generation/takeover.js";
import type { AnsweredImages, StepTracer } from "../generation/telemetry.js";
import { countedGenerations, type GenerationCounter } from "../observability/generations.js";
import type { ConcurrencyGate } from "../tenancy/limits.js";
import { createLatencyModel } from "../upstream/latency-model.js";
import { createPoller, type PollerOptions } from "../upstream/poller.js";
import type { ScheduleTuning } from "../upstream/schedule.js";
import { channelsPluginName } from "./channels.js";
import { imagesPluginName } from "./images.js";
import { limitsPluginName } from "./limits.js";
import { storePluginName } from "./store.js";

export interface GenerationParts {
  service: GenerationService;
  admission: AdmissionService;
  deliverer: Deliverer;
  /** Each tenant's tasks in flight against its max_concurrent. */
  gate: ConcurrencyGate;
  /** How uploaded references reach the upstream (data: URIs or signed URLs). */
  referenceDelivery: ReferenceDelivery;
}

declare module "fastify" {
  interface FastifyInstance {
    generation: GenerationParts;
  }
}

export const generationPluginName = "imagegate-generation";

export interface GenerationPluginOptions {
  /** Counts generations as they end (the metrics). */
  generations?: GenerationCounter | undefined;
  /** Counts the images answered and their result lag (the metrics). */
  answered?: AnsweredImages | undefined;
  /** Spans for admissions, generations and deliveries; absent when tracing is off. */
  tracer?: StepTracer | undefined;
  config: Config;
  clock: Clock;
  models: ModelMap;
  /** The read schedule's constants (tests make it denser). */
  scheduleTuning?: ScheduleTuning | undefined;
  /** Retry and confirmation waits (tests shorten them). */
  retryTiming?:
    | {
        poller?: Pick<PollerOptions, "notFoundDelayMs" | "errorBackoffMs">;
        generation?: Pick<
          GenerationDeps,
          "submitRetryDelaysMs" | "downloadRetryDelaysMs" | "recordRetryDelaysMs"
        >;
      }
    | undefined;
}

async function generation(app: FastifyInstance, options: GenerationPluginOptions): Promise<void> {
  const { config, clock, models } = options;
  const { ledger, vault, latencyStore } = app.store;
  const { blobs, spool, signer } = app.images;
  const channels = app.channels;
  const latency = createLatencyModel({
    store: latencyStore,
    clock,
    onError: (err) => app.log.warn({ err }, "learned latencies could not be read or saved"),
  });
  // The first tasks are read on the learned schedule, as after every start.
  await latency.loaded();
  const poller = createPoller({
    clock,
    latency,
    ...(options.scheduleTuning ? { tuning: options.scheduleTuning } : {}),
    ...options.retryTiming?.poller,
  });
  const gate = app.limits.gate;
  const created = createGenerationService({
    channels,
    maxResultBytes: config.maxResultBytes,
    poller,
    blobs,
    clock,
    log: app.log,
    recorder: ledger,
    models,
    tracer: options.tracer,
    answered: options.answered,
    ...options.retryTiming?.generation,
  });
  const service =
    options.generations === undefined
      ? created
      : countedGenerations(created, options.generations, () => clock.now());
  const referenceDelivery = resolveDelivery(config.referenceDelivery, config.publicUrl);
  const admission = createAdmission({
    generation: service,
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
    tracer: options.tracer,
  });
  const deliverer = createDeliverer({
    blobs,
    signer,
    clock,
    urlTtlMs: config.urlTtlMs,
    tracer: options.tracer,
    answered: options.answered,
  });
  app.decorate("generation", { service, admission, deliverer, gate, referenceDelivery });

  const resumeDeps = { ledger, vault, generation: service, channels, log: app.log, gate };
  let takeover: Takeover | undefined;
  app.addHook("onReady", async () => {
    const leases = ledger.leases;
    // Shared records: only what no live replica watches (leases run out), now
    // and whenever a replica dies. Embedded: all the last process left.
    if (leases !== undefined) {
      takeover = startTakeover({
        leases,
        resume: (records) => resumeRecords(records, resumeDeps),
        clock,
        log: app.log,
      });
    } else await resumeUnfinished(resumeDeps);
  });
  app.addHook("onClose", async () => {
    // Nothing more is taken over once closing has begun.
    await takeover?.stopClaiming();
    // What is still running stays recorded as running; the next start (or,
    // with replicas, another replica at once) resumes it.
    service.close();
    poller.close();
    // Downloads that were under way are stored and recorded before the store closes.
    await service.settled();
    await takeover?.close();
    await latency.close();
  });
}

export const generationPlugin = fp(generation, {
  name: generationPluginName,
  dependencies: [storePluginName, limitsPluginName, channelsPluginName, imagesPluginName],
  fastify: "5.x",
});
