// Prometheus metrics (prom-client), scraped at GET /metrics. Each gateway has
// a registry of its own (tests build many in one process); the process's
// default metrics (CPU, memory, event-loop lag, handles) are one registry for
// the whole process, merged in at each scrape. Gauges of the moment (tasks in
// flight, open circuits) are read when scraped, never kept up to date by hand.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AnsweredImages } from "../generation/telemetry.js";

/** The process's own figures, registered once whatever the number of gateways. */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: "imagegate_" });
  }
  return processRegistry;
}

/** What the gauges read at each scrape. */
export interface MetricSources {
  tasksInFlight(): number;
  /** Every channel with whether its circuit is open now. */
  circuits(): ReadonlyArray<{ channel: string; open: boolean }>;
}

export interface GatewayMetrics {
  /** The text exposition of every metric, this gateway's and the process's. */
  scrape(): Promise<{ contentType: string; body: string }>;
  httpRequests: Counter<"route" | "status" | "tenant">;
  httpDuration: Histogram<"route">;
  heldRequests: Gauge;
  bytesSent: Counter;
  /** Whether labels carry the tenant (IMAGEGATE_METRICS_TENANT_LABELS). */
  tenantLabels: boolean;
  /** Submits and reads per channel (channels/registry.ts's ChannelTraffic). */
  traffic: {
    submitted(channel: string, model: string, outcome: string): void;
    read(channel: string, outcome: string): void;
  };
  /** Generations ended (observability/generations.ts's GenerationCounter). */
  generations: {
    ended(model: string, outcome: string, seconds: number | undefined): void;
  };
  /** Images answered to callers, with their result lag (generation/telemetry.ts's AnsweredImages). */
  results: AnsweredImages;
}

// Generations take seconds to minutes; the HTTP answer of a synchronous one as long.
const httpBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

export function createMetrics(sources: MetricSources, options: { tenantLabels: boolean }) {
  const registry = new Registry();
  const { tenantLabels } = options;
  const submits = new Counter({
    name: "imagegate_upstream_submits_total",
    help: "Submits (and synchronous calls) to upstream accounts: accepted, or the failure's kind",
    labelNames: ["channel", "model", "outcome"],
    registers: [registry],
  });
  const reads = new Counter({
    name: "imagegate_upstream_reads_total",
    help: "Reads of task status: ok, or the failure's kind",
    labelNames: ["channel", "outcome"],
    registers: [registry],
  });
  const generations = new Counter({
    name: "imagegate_generations_total",
    help: "Generations ended in this process, by upstream model and outcome",
    labelNames: ["model", "outcome"],
    registers: [registry],
  });
  const generationDuration = new Histogram({
    name: "imagegate_generation_duration_seconds",
    help: "From a generation's start to its images, by upstream model",
    labelNames: ["model"],
    buckets: [1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600],
    registers: [registry],
  });
  const resultLag = new Histogram({
    name: "imagegate_result_lag_seconds",
    help:
      "From when a succeeded generation's result was ready upstream to when the gateway answered it " +
      "(the synchronous response with the images; for the async API, its stored outcome), by upstream " +
      "model. An estimate: the upstream gives no completion time, so the ready moment is the middle " +
      "between the last read that saw the task unfinished (or its submit) and the first that saw it done",
    labelNames: ["model"],
    // The budget is a share of the task's own time (10 % at P50, floor 150 ms): seconds, mostly.
    buckets: [0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  });
  const imagesDelivered = new Counter({
    name: "imagegate_images_delivered_total",
    help:
      "Images answered to callers, by upstream model and response_format: counted when a synchronous " +
      "response is handed its images, and for the async API (format url) when the task's outcome is stored",
    labelNames: ["model", "format"],
    registers: [registry],
  });
  const metrics: GatewayMetrics = {
    tenantLabels,
    results: {
      answered(model, format, images, lagSeconds) {
        if (images > 0) imagesDelivered.inc({ model, format }, images);
        // A clock step back would make it negative: no lag, not a negative one.
        if (lagSeconds !== undefined) resultLag.observe({ model }, Math.max(0, lagSeconds));
      },
    },
    traffic: {
      submitted: (channel, model, outcome) => submits.inc({ channel, model, outcome }),
      read: (channel, outcome) => reads.inc({ channel, outcome }),
    },
    generations: {
      ended(model, outcome, seconds) {
        generations.inc({ model, outcome });
        if (seconds !== undefined) generationDuration.observe({ model }, seconds);
      },
    },
    httpRequests: new Counter({
      name: "imagegate_http_requests_total",
      help: "HTTP requests answered, by route and status",
      labelNames: tenantLabels ? ["route", "status", "tenant"] : ["route", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "imagegate_http_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by route",
      labelNames: ["route"],
      buckets: httpBuckets,
      registers: [registry],
    }),
    heldRequests: new Gauge({
      name: "imagegate_held_requests",
      help: "Image requests received and not yet answered (synchronous callers waiting)",
      registers: [registry],
    }),
    bytesSent: new Counter({
      name: "imagegate_bytes_sent_total",
      help: "Bytes written to clients, headers included",
      registers: [registry],
    }),
    async scrape() {
      const merged = Registry.merge([registry, processMetrics()]);
      return { contentType: merged.contentType, body: await merged.metrics() };
    },
  };
  new Gauge({
    name: "imagegate_tasks_in_flight",
    help: "Generations this gateway is submitting or watching upstream",
    registers: [registry],
    collect() {
      this.set(sources.tasksInFlight());
    },
  });
  new Gauge({
    name: "imagegate_circuit_open",
    help: "1 while a channel's circuit breaker is open (its submits stopped), else 0",
    labelNames: ["channel"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { channel, open } of sources.circuits()) this.set({ channel }, open ? 1 : 0);
    },
  });
  return metrics;
}
