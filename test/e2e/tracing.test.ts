// Traces (OpenTelemetry): one generation's spans form one tree under the
// request that asked for it (admission, generation, submit, each read, each
// download, delivery), every step carrying the gateway's task id, and the log
// lines about it name its trace. With tracing off there are no spans and no
// trace ids in the logs.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { trace } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import type { AppDeps } from "../../src/app.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
let provider: NodeTracerProvider | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await provider?.shutdown();
  provider = undefined;
});

/** A provider exporting each span as it ends, into memory. */
function inMemoryTraces() {
  const exporter = new InMemorySpanExporter();
  provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}

/** A gateway whose JSON log lines are kept, with its deps over the helper's. */
async function gatewayWithLogs(deps: AppDeps = {}) {
  const lines: Record<string, unknown>[] = [];
  gw = await buildTestApp({
    env: { LOG_LEVEL: "info" },
    deps: {
      ...deps,
      logger: undefined,
      logDestination: { write: (line) => void lines.push(JSON.parse(line)) },
    },
  });
  return { gateway: gw, lines };
}

const generationId = "imagegate.generation.id";

/** Whether `span` descends from `ancestor`, following parents among `spans`. */
function descends(span: ReadableSpan, ancestor: ReadableSpan, spans: ReadableSpan[]): boolean {
  const byId = new Map(spans.map((each) => [each.spanContext().spanId, each]));
  const target = ancestor.spanContext().spanId;
  for (let at = span.parentSpanContext?.spanId; at !== undefined; ) {
    if (at === target) return true;
    at = byId.get(at)?.parentSpanContext?.spanId;
  }
  return false;
}

describe("traces", { timeout: 30_000 }, () => {
  it("one generation is one trace: request, admission, submit, reads, downloads, delivery", async () => {
    const { exporter } = inMemoryTraces();
    const { gateway, lines } = await gatewayWithLogs({ tracerProvider: provider });
    const { response } = await gateway.client.images
      .generate({ model: "nano-banana", prompt: "traced [sim:duration=300] [sim:images=2]", n: 2 })
      .withResponse();
    const taskId = response.headers.get("x-imagegate-task-id") ?? "";
    expect(taskId).not.toBe("");

    // The delivery's span ends once its stream is written out, after the client has the answer.
    await vi.waitFor(() =>
      expect(exporter.getFinishedSpans().map((span) => span.name)).toContain("imagegate.deliver"),
    );
    const spans = exporter.getFinishedSpans();
    const request = spans.find((span) => span.name === "POST /v1/images/generations");
    if (request === undefined) throw new Error("no request span");
    const traceId = request.spanContext().traceId;
    expect(request.parentSpanContext).toBeUndefined();
    expect(request.attributes[generationId]).toBe(taskId);

    const trace = spans.filter((span) => span.spanContext().traceId === traceId);
    const named = (name: string) => trace.filter((span) => span.name === name);
    const steps = [
      ...named("imagegate.admission"),
      ...named("imagegate.generation"),
      ...named("imagegate.submit"),
      ...named("imagegate.read"),
      ...named("imagegate.download"),
      ...named("imagegate.deliver"),
    ];
    expect(named("imagegate.admission")).toHaveLength(1);
    expect(named("imagegate.generation")).toHaveLength(1);
    expect(named("imagegate.submit")).toHaveLength(1);
    // Seen unfinished, then finished.
    expect(named("imagegate.read").length).toBeGreaterThanOrEqual(2);
    expect(named("imagegate.download")).toHaveLength(2);
    expect(named("imagegate.deliver")).toHaveLength(1);
    for (const step of steps) {
      expect(step.attributes[generationId], step.name).toBe(taskId);
      expect(descends(step, request, trace), step.name).toBe(true);
      expect(step.status.code, step.name).not.toBe(2);
    }
    // Every step of the generation's own is inside it.
    const [generation] = named("imagegate.generation");
    for (const step of [...named("imagegate.submit"), ...named("imagegate.read")]) {
      expect(descends(step, generation as ReadableSpan, trace)).toBe(true);
    }
    const upstreamTaskId = gateway.sim.submits[0]?.taskId;
    expect(named("imagegate.submit")[0]?.attributes).toMatchObject({
      "imagegate.channel": "ch_default",
      "imagegate.upstream.model": "gemini-3.1-flash-image-preview",
      "imagegate.upstream.task_id": upstreamTaskId,
    });
    expect(named("imagegate.read").at(-1)?.attributes["imagegate.read.state"]).toBe("succeeded");
    expect(named("imagegate.deliver")[0]?.attributes["imagegate.deliver.format"]).toBe("b64_json");
    // No other trace holds a step of this generation.
    const elsewhere = spans.filter(
      (span) => span.attributes[generationId] === taskId && span.spanContext().traceId !== traceId,
    );
    expect(elsewhere).toEqual([]);

    // The use case's log lines about it name its trace.
    const submitted = lines.find(
      (line) => line.msg === "upstream task submitted" && line.recordId === taskId,
    );
    expect(submitted?.trace_id).toBe(traceId);
    expect(typeof submitted?.span_id).toBe("string");
  });

  it("continues a caller's trace from its traceparent header (W3C Trace Context)", async () => {
    const { exporter } = inMemoryTraces();
    gw = await buildTestApp({ deps: { tracerProvider: provider } });
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    await gw.client.images.generate(
      { model: "nano-banana", prompt: "a traced call" },
      { headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } },
    );
    await vi.waitFor(() =>
      expect(exporter.getFinishedSpans().map((span) => span.name)).toContain("imagegate.deliver"),
    );
    const request = exporter
      .getFinishedSpans()
      .find((span) => span.name === "POST /v1/images/generations");
    expect(request?.spanContext().traceId).toBe(callerTrace);
    expect(request?.parentSpanContext?.spanId).toBe(callerSpan);
    const submit = exporter.getFinishedSpans().find((span) => span.name === "imagegate.submit");
    expect(submit?.spanContext().traceId).toBe(callerTrace);
  });

  it("marks a failed generation's steps with the error code", async () => {
    const { exporter } = inMemoryTraces();
    gw = await buildTestApp({ deps: { tracerProvider: provider } });
    const failing = gw.client.images.generate({
      model: "nano-banana",
      prompt: "refused by the model [sim:fail=content policy]",
    });
    await expect(failing).rejects.toMatchObject({ status: expect.any(Number) });
    await vi.waitFor(() =>
      expect(exporter.getFinishedSpans().map((span) => span.name)).toContain(
        "imagegate.generation",
      ),
    );
    const generation = exporter
      .getFinishedSpans()
      .find((span) => span.name === "imagegate.generation");
    expect(generation?.status.code).toBe(2);
    expect(generation?.attributes["imagegate.error.code"]).toEqual(expect.any(String));
    expect(generation?.status.message).toBe(generation?.attributes["imagegate.error.code"]);
  });

  it("traces a generation resumed after a restart as a trace of its own", async () => {
    const { exporter } = inMemoryTraces();
    gw = await buildTestApp({ deps: { tracerProvider: provider } });
    const gateway = gw;
    const api = (path: string, body?: unknown) =>
      fetch(`${gateway.url}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { authorization: `Bearer ${gateway.apiKey}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const submitted = await api("/v1/images/generations/async", {
      model: "nano-banana",
      prompt: "outlives its process [sim:duration=1000]",
    });
    const { id } = (await submitted.json()) as { id: string };
    // The same provider serves the next process: the first one only flushed it.
    await gateway.restart();
    await vi.waitFor(
      async () => {
        const task = (await (await api(`/v1/images/tasks/${id}`)).json()) as {
          data: { status: string };
        };
        expect(task.data.status).toBe("SUCCESS");
      },
      { timeout: 15_000, interval: 50 },
    );
    const spans = exporter
      .getFinishedSpans()
      .filter((span) => span.attributes[generationId] === id);
    const resumed = spans.find(
      (span) => span.name === "imagegate.generation" && span.attributes["imagegate.resumed"],
    );
    if (resumed === undefined) throw new Error("no span for the resumed generation");
    expect(resumed.parentSpanContext).toBeUndefined();
    const inResumed = spans.filter(
      (span) => span.spanContext().traceId === resumed.spanContext().traceId,
    );
    expect(inResumed.some((span) => span.name === "imagegate.read")).toBe(true);
    expect(inResumed.some((span) => span.name === "imagegate.download")).toBe(true);
    for (const span of inResumed.filter((each) => each !== resumed)) {
      expect(descends(span, resumed, inResumed), span.name).toBe(true);
    }
  });

  it("exports to OTEL_EXPORTER_OTLP_ENDPOINT over OTLP/HTTP, flushed at close", async () => {
    const posts: { url: string | undefined; body: string }[] = [];
    const collector = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => {
        posts.push({ url: request.url, body });
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    // The configuration's, not the process's environment: the exporter is given its URL.
    gw = await buildTestApp({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "imagegate-under-test" },
    });
    try {
      expect(gw.app.hasPlugin("@fastify/otel")).toBe(true);
      await gw.client.images.generate({ model: "nano-banana", prompt: "exported" });
      // Batched: nothing need have gone yet; closing the gateway sends the rest.
      await gw.close();
      gw = undefined;
      expect(posts.length).toBeGreaterThan(0);
      expect(posts.every((post) => post.url === "/v1/traces")).toBe(true);
      const sent = posts.map((post) => post.body).join("\n");
      expect(sent).toContain('"imagegate-under-test"');
      for (const name of ["POST /v1/images/generations", "imagegate.submit", "imagegate.deliver"]) {
        expect(sent).toContain(`"${name}"`);
      }
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  });

  it("makes no spans and writes no trace ids with tracing off", async () => {
    // The process's global provider, where any span made through the API's
    // globals would land (the gateway must make none, and register none).
    const { exporter } = inMemoryTraces();
    expect(trace.setGlobalTracerProvider(provider as NodeTracerProvider)).toBe(true);
    onTestFinished(() => trace.disable());
    const { gateway, lines } = await gatewayWithLogs();
    expect(gateway.app.hasPlugin("@fastify/otel")).toBe(false);
    const { response } = await gateway.client.images
      .generate({ model: "nano-banana", prompt: "untraced" })
      .withResponse();
    const taskId = response.headers.get("x-imagegate-task-id");
    expect(lines.some((line) => line.recordId === taskId)).toBe(true);
    expect(lines.filter((line) => "trace_id" in line || "span_id" in line)).toEqual([]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
