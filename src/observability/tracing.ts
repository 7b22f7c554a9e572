// Traces (OpenTelemetry), off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then
// a tracer provider of the gateway's own exports over OTLP/HTTP in batches.
// Nothing is registered as the process's global tracer provider (tests build
// many gateways in one process, and a host may have its own): the provider's
// tracer is handed to the code that makes spans (generation/telemetry.ts's
// StepTracer, @fastify/otel through setTracerProvider). Off, there is no
// provider at all: no span objects, no log mixin, no SDK loaded.
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import type { TracingSettings } from "../config.js";
import type { StepAttributes, StepSpan, StepTracer, TraceParent } from "../generation/telemetry.js";

/** A provider as the gateway uses it: spans, and a flush at close when it has one. */
export interface GatewayTracerProvider extends TracerProvider {
  forceFlush?(): Promise<void>;
  shutdown?(): Promise<void>;
}

export interface Tracing {
  provider: GatewayTracerProvider;
  /** The use case's view: a span per step, under the request's. */
  steps: StepTracer;
  /** A pino mixin: the active span's trace_id and span_id on each log line. */
  logFields(): Record<string, string>;
  /** Exports what is buffered; shuts down a provider made here (an injected one is its owner's). */
  close(): Promise<void>;
}

/** The name spans are made under (the instrumentation scope). */
const scope = "imagegate";

let contextManager: Promise<void> | undefined;

/**
 * Parent and child spans follow async work only through a context manager,
 * which is the process's (one per process, set once): AsyncLocalStorage.
 * The propagator is the process's too: W3C Trace Context, so that a caller's
 * `traceparent` makes our request span a child of its own (a service that
 * traces its calls sees the gateway's steps in its trace). When the host
 * registered either first, its own is used.
 */
function ensureContextManager(): Promise<void> {
  contextManager ??= Promise.all([
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
  ]).then(([hooks, core]) => {
    context.setGlobalContextManager(new hooks.AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  });
  return contextManager;
}

/** OpenTelemetry drops undefined attribute values with a warning: they are left out. */
function defined(attributes: StepAttributes): Attributes {
  const out: Attributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function stepSpan(span: Span, parent: Context): StepSpan {
  let own: Context | undefined;
  return {
    // Made on demand: most steps (reads, downloads) have no children.
    get parent() {
      own ??= trace.setSpan(parent, span);
      return own as unknown as TraceParent;
    },
    set: (attributes) => span.setAttributes(defined(attributes)),
    fail(code) {
      span.setAttribute("imagegate.error.code", code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    },
    end: () => span.end(),
  };
}

export function stepTracer(tracer: Tracer): StepTracer {
  return {
    current() {
      const active = context.active();
      return trace.getSpan(active) === undefined ? undefined : (active as unknown as TraceParent);
    },
    start(name, parent, attributes) {
      // No parent: a trace of its own, whatever context the caller happens to run in.
      const under = parent === undefined ? ROOT_CONTEXT : (parent as unknown as Context);
      return stepSpan(tracer.startSpan(name, { attributes: defined(attributes) }, under), under);
    },
  };
}

/** trace_id and span_id of the span active now, for the log line being written. */
function logFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const spanContext = span.spanContext();
  if (!trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/** The exporting provider: OTLP/HTTP in batches to the configured URL (headers from OTEL_EXPORTER_OTLP_HEADERS). */
async function exportingProvider(settings: TracingSettings): Promise<GatewayTracerProvider> {
  // Loaded only when tracing is on.
  const [sdk, otlp, resources, conventions] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  return new sdk.NodeTracerProvider({
    resource: resources
      .defaultResource()
      .merge(
        resources.resourceFromAttributes({ [conventions.ATTR_SERVICE_NAME]: settings.serviceName }),
      ),
    spanProcessors: [
      new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url: settings.tracesUrl })),
    ],
  });
}

/**
 * The gateway's tracing: the injected provider (tests), else an exporting one
 * when the configuration names an endpoint, else undefined (off).
 */
export async function createTracing(
  settings: TracingSettings | undefined,
  injected?: GatewayTracerProvider,
): Promise<Tracing | undefined> {
  if (injected === undefined && settings === undefined) return undefined;
  await ensureContextManager();
  const provider = injected ?? (await exportingProvider(settings as TracingSettings));
  return {
    provider,
    steps: stepTracer(provider.getTracer(scope)),
    logFields,
    async close() {
      if (injected === undefined) await provider.shutdown?.();
      else await provider.forceFlush?.();
    },
  };
}
