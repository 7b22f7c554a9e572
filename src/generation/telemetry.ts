// What the use case reports besides its records: the steps of a generation as
// trace spans, and the images it answers as metrics. The interfaces are the
// use case's own (observability/ implements them with OpenTelemetry and
// prom-client), so generation/ and upstream/ import no telemetry library; when
// tracing is off the tracer is absent and nothing is allocated per step.
import { GatewayError } from "../errors.js";
import type { TaskSnapshot } from "../providers/async/status.js";
import { UpstreamError } from "../providers/failures.js";

declare const traceParent: unique symbol;

/** Where a step hangs in a trace (a span's context): opaque outside observability/. */
export interface TraceParent {
  readonly [traceParent]: true;
}

export type StepAttributes = Record<string, string | number | boolean | undefined>;

/** One step of a generation under way (a span). */
export interface StepSpan {
  /** Where the steps inside this one hang. */
  readonly parent: TraceParent;
  set(attributes: StepAttributes): void;
  /** The step failed: its error code, on the span and as its status. */
  fail(code: string): void;
  end(): void;
}

export interface StepTracer {
  /** The step running now (the request's span in a route), or undefined outside any. */
  current(): TraceParent | undefined;
  /** Starts a step under `parent`, or as the root of a trace of its own. */
  start(name: string, parent: TraceParent | undefined, attributes: StepAttributes): StepSpan;
}

/** Where the images answered to callers are counted (observability/metrics.ts). */
export interface AnsweredImages {
  /**
   * A succeeded generation's images went to a caller: `format` as it asked
   * (`url` for the async API's task), and how long after the result was
   * ready upstream (undefined when unknown).
   */
  answered(
    model: string,
    format: "b64_json" | "url",
    images: number,
    lagSeconds: number | undefined,
  ): void;
}

/** The span attribute every step of a generation carries. */
export const generationIdAttribute = "imagegate.generation.id";

/** The code a failed step is marked with: the gateway's, else the upstream's. */
export function failureCode(err: unknown): string {
  if (err instanceof GatewayError) return err.code;
  if (err instanceof UpstreamError) return err.code ?? `upstream_${err.kind}`;
  return "internal_error";
}

/** The steps of one generation: spans under its own, each carrying its id. */
export interface GenerationSteps {
  start(name: string, attributes?: StepAttributes): StepSpan;
}

/**
 * A generation's own span (under `parent`, or the root of a trace of its
 * own) and the steps under it, each carrying the generation's id.
 */
export function traceGeneration(
  tracer: StepTracer,
  parent: TraceParent | undefined,
  recordId: string,
  attributes: StepAttributes,
): { span: StepSpan; steps: GenerationSteps } {
  const span = tracer.start("imagegate.generation", parent, {
    [generationIdAttribute]: recordId,
    ...attributes,
  });
  return {
    span,
    steps: {
      start: (name, stepAttributes) =>
        tracer.start(name, span.parent, { [generationIdAttribute]: recordId, ...stepAttributes }),
    },
  };
}

/** Ends `span` when `settled` does: failed with the rejection's code, or as it is. */
export function endWith(span: StepSpan, settled: Promise<unknown>): void {
  settled.then(
    () => span.end(),
    (err: unknown) => {
      span.fail(failureCode(err));
      span.end();
    },
  );
}

/**
 * Runs `run` as the step `name` when tracing is on (`steps` given): the span
 * carries what `describe` tells of the result, or the failure's code.
 */
export async function inStep<T>(
  steps: GenerationSteps | undefined,
  name: string,
  attributes: StepAttributes,
  run: () => Promise<T>,
  describe?: (result: T) => StepAttributes,
): Promise<T> {
  if (steps === undefined) return run();
  const span = steps.start(name, attributes);
  try {
    const result = await run();
    if (describe !== undefined) span.set(describe(result));
    return result;
  } catch (err) {
    span.fail(failureCode(err));
    throw err;
  } finally {
    span.end();
  }
}

/** The poller's per-read hook (WatchRequest.onReadStart): a span per read of the task. */
export function readSteps(steps: GenerationSteps, channelId: string, taskId: string) {
  return () => {
    const span = steps.start("imagegate.read", {
      "imagegate.channel": channelId,
      "imagegate.upstream.task_id": taskId,
    });
    return (snapshot: TaskSnapshot | undefined, err?: unknown) => {
      if (snapshot === undefined) span.fail(failureCode(err));
      else {
        span.set({
          "imagegate.read.status": snapshot.rawStatus,
          "imagegate.read.state": snapshot.state,
          "imagegate.read.progress": snapshot.progress,
        });
      }
      span.end();
    };
  };
}
