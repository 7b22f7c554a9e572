// A faithful upstream simulator (UPSTREAM.md): submit, read, authenticated
// download, both spellings of states, failures with a reason, expiry, and
// injectable latency and faults. A plain node:http server, with O(1) work per
// request, so it stays fast enough for the benchmarks' 10,000 concurrent tasks.
// It imports nothing from the gateway: it is an independent re-implementation.
import { randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Fault, type FaultAnswer, FaultQueue, faultAnswer, type SimRoute } from "./faults.js";
import { contentTypes, imageParts, type SimImageFormat } from "./images.js";
import { simReferenceLimit, simResolve } from "./models.js";
import type { ProgressProfile } from "./progress.js";
import {
  parseDirectives,
  readAnswer,
  type SimTask,
  type SimTaskInfo,
  type Spelling,
  viewTask,
} from "./tasks.js";

export type { Fault, SimRoute } from "./faults.js";
export type { ProgressProfile } from "./progress.js";
export { realisticDurationMs, type SimTaskInfo } from "./tasks.js";

export interface SimulatorOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Accepted Bearer keys; default ["sim-key"]. */
  keys?: string[];
  /** Generation time; default 0 (done at once). */
  durationMs?: number | ((task: SimTaskInfo) => number);
  /** How long results stay downloadable after the task finished; default 2 h. */
  resultTtlMs?: number;
  /** How many images a task returns; default its `n`. */
  imagesReturned?: (task: SimTaskInfo) => number;
  /** Default "png". */
  imageFormat?: SimImageFormat | ((task: SimTaskInfo) => SimImageFormat);
  /** Pad PNG results to about this many bytes (large-result benchmarks). */
  imageBytes?: number;
  /** How progress climbs (default "linear"); a prompt's [sim:progress=…] overrides it. */
  progressProfile?: ProgressProfile;
  /** "mixed": odd-case states, progress sometimes absent, a URL in fail_reason on success. */
  stateSpelling?: Spelling;
  /** Clock; default Date.now. */
  now?: () => number;
  /** Base of result URLs; default the listening address. */
  publicUrl?: string;
  /** Keep `requests` (default true; benchmarks turn it off to save memory). */
  recordRequests?: boolean;
  /**
   * Accept `data:` URIs in `image_url` (default true). The site documents only
   * https URLs; false answers them as an invalid request.
   */
  acceptDataUris?: boolean;
}

/** What the simulator made of one reference in `image_url`, as the upstream would fetch it. */
export interface SimReference {
  form: "url" | "data";
  /** The HTTP status of the fetch (200 for a data: URI). */
  status: number;
  /** The image type sniffed from the bytes, if they are an image. */
  imageType: string | undefined;
  bytes: Buffer;
}

export interface SimRequestRecord {
  route: SimRoute;
  key: string | null;
  taskId?: string;
  /** The status answered; 0 when the connection was dropped. */
  status: number;
  at: number;
}

export interface Simulator {
  /** e.g. "http://127.0.0.1:40123" */
  url: string;
  /** Every accepted submit, in order. */
  submits: SimTaskInfo[];
  /** Every request to the three routes (unless `recordRequests: false`). */
  requests: SimRequestRecord[];
  /** Requests per route, kept even when `recordRequests` is off. */
  counts: Record<SimRoute, number>;
  inject(fault: Fault): void;
  addKey(key: string): void;
  task(taskId: string): SimTaskInfo | undefined;
  /** Exactly the bytes the download of result `index` serves. */
  image(taskId: string, index: number): { bytes: Buffer; contentType: string };
  /** Resolves once `submits.length >= count`. */
  waitForSubmits(count: number): Promise<void>;
  /** The task's references, fetched (URLs, without any key) or decoded (data: URIs). */
  references(taskId: string): Promise<SimReference[]>;
  /** Closes the server and every socket. */
  close(): Promise<void>;
}

const maxBodyBytes = 32 * 1024 * 1024;

interface JsonAnswer {
  status: number;
  body: unknown;
}

interface ImageAnswer {
  status: 200;
  parts: Buffer[];
  contentType: string;
}

/** An error as OpenAI's API words it (the synchronous mode). */
function openaiError(status: number, message: string, code: string): JsonAnswer {
  return {
    status,
    body: { error: { message, type: "invalid_request_error", param: null, code } },
  };
}

function newApiError(status: number, message: string, code: string): JsonAnswer {
  return { status, body: { error: { message, type: "new_api_error", param: "", code } } };
}

const taskNotExist: JsonAnswer = {
  status: 400,
  body: { code: "task_not_exist", message: "task_not_exist", data: null },
};

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendFault(res: ServerResponse, answer: FaultAnswer): void {
  res.writeHead(answer.status, {
    "content-length": Buffer.byteLength(answer.body),
    ...answer.headers,
  });
  res.end(answer.body);
}

/** The request body, or undefined when it is larger than the upstream takes. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Validates a submit as the upstream does: the error, or the body and resolved model. */
function checkSubmit(
  raw: Buffer | undefined,
): { error: JsonAnswer } | { model: string; body: Record<string, unknown> } {
  if (raw === undefined) return { error: newApiError(413, "request body too large", "") };
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    body = undefined;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { error: newApiError(400, "invalid request body", "invalid_request") };
  }
  const fields = body as Record<string, unknown>;
  if (typeof fields.prompt !== "string" || fields.prompt.trim() === "") {
    return { error: newApiError(400, "prompt is required", "invalid_request") };
  }
  const model = typeof fields.model === "string" ? simResolve(fields.model) : undefined;
  if (!model) {
    const message = `No available channel for model ${String(fields.model)} under group default`;
    return { error: newApiError(503, message, "model_not_found") };
  }
  const refs = fields.image_url;
  const refList = refs === undefined ? [] : Array.isArray(refs) ? refs : [refs];
  if (!refList.every((ref) => typeof ref === "string")) {
    return { error: newApiError(400, "image_url must be a string or strings", "invalid_request") };
  }
  if (refList.length > simReferenceLimit(model)) {
    const message = `${model} takes at most ${simReferenceLimit(model)} reference images`;
    return { error: newApiError(400, message, "invalid_request") };
  }
  const n = fields.n;
  if (n !== undefined && (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 10)) {
    return { error: newApiError(400, "n must be an integer from 1 to 10", "invalid_request") };
  }
  return { model, body: fields };
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const keys = new Set(options.keys ?? ["sim-key"]);
  const now = options.now ?? Date.now;
  const resultTtlMs = options.resultTtlMs ?? 2 * 3_600_000;
  const spelling = options.stateSpelling ?? "upper";
  const record = options.recordRequests ?? true;
  const tasks = new Map<string, SimTask>();
  const faults = new FaultQueue();
  const submitted = new EventEmitter().setMaxListeners(0);
  const submits: SimTaskInfo[] = [];
  const requests: SimRequestRecord[] = [];
  const counts: Record<SimRoute, number> = { submit: 0, read: 0, download: 0, images: 0 };
  // Injected delays, cleared on close so no answer is written after it.
  const delays = new Set<NodeJS.Timeout>();
  let base = "";

  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        delays.delete(timer);
        resolve();
      }, ms);
      delays.add(timer);
    });

  const imageTypeOf = (bytes: Buffer): string | undefined => {
    if (bytes.subarray(0, 4).toString("latin1") === "\x89PNG") return "image/png";
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
    if (bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP") {
      return "image/webp";
    }
    return undefined;
  };
  const referenceChecks = new Map<string, Promise<SimReference[]>>();

  // The upstream fetches URL references itself, with no key: so does this.
  async function checkReferences(value: unknown): Promise<SimReference[]> {
    const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
    return Promise.all(
      list.map(async (ref: string): Promise<SimReference> => {
        const data = /^data:[^;,]+;base64,(.*)$/s.exec(ref);
        if (data) {
          const bytes = Buffer.from(data[1] ?? "", "base64");
          return { form: "data", status: 200, imageType: imageTypeOf(bytes), bytes };
        }
        try {
          const response = await fetch(ref);
          const bytes = Buffer.from(await response.arrayBuffer());
          return { form: "url", status: response.status, imageType: imageTypeOf(bytes), bytes };
        } catch {
          return { form: "url", status: 0, imageType: undefined, bytes: Buffer.alloc(0) };
        }
      }),
    );
  }

  function createTask(key: string, body: Record<string, unknown>, model: string): SimTaskInfo {
    const taskId = `aiimg_${randomBytes(12).toString("hex")}`;
    const prompt = body.prompt as string;
    const info: SimTaskInfo = {
      taskId,
      key,
      model,
      requestedModel: body.model as string,
      prompt,
      n: typeof body.n === "number" ? body.n : 1,
      body,
      submittedAt: now(),
    };
    if (typeof body.size === "string") info.size = body.size;
    if (typeof body.quality === "string") info.quality = body.quality;
    const directives = parseDirectives(prompt);
    const { durationMs, imageFormat } = options;
    tasks.set(taskId, {
      info,
      durationMs:
        directives.durationMs ??
        (typeof durationMs === "function" ? durationMs(info) : (durationMs ?? 0)),
      images: directives.images ?? options.imagesReturned?.(info) ?? info.n,
      format: typeof imageFormat === "function" ? imageFormat(info) : (imageFormat ?? "png"),
      failReason: directives.failReason,
      failAfterMs: directives.failAfterMs,
      profile: directives.profile ?? options.progressProfile ?? "linear",
      lose: directives.lose,
      expire: directives.expire,
      // Some services of the family leave progress out; "mixed" does on every other task.
      omitProgress: spelling === "mixed" && submits.length % 2 === 1,
    });
    submits.push(info);
    referenceChecks.set(taskId, checkReferences(body.image_url));
    submitted.emit("submit");
    return info;
  }

  /** The real answer to an authenticated request (creating the task for a submit). */
  function answer(
    route: SimRoute,
    key: string,
    taskId: string | undefined,
    url: URL,
    raw: Buffer | undefined,
  ): JsonAnswer | ImageAnswer {
    if (route === "submit") {
      const checked = checkSubmit(raw);
      if ("error" in checked) return checked.error;
      if (
        options.acceptDataUris === false &&
        JSON.stringify(checked.body.image_url ?? "").includes('"data:')
      ) {
        return newApiError(400, "image_url must be an https URL", "invalid_request");
      }
      const { taskId: id } = createTask(key, checked.body, checked.model);
      return {
        status: 200,
        body: { id, task_id: id, status: "queued", progress: 1, data: [] },
      };
    }
    const task = tasks.get(taskId as string);
    // Another key's task is indistinguishable from no task; a lost one too.
    if (!task || task.info.key !== key || task.lose) return taskNotExist;
    const at = now();
    if (route === "read") return { status: 200, body: readAnswer(task, at, spelling, base) };
    const view = viewTask(task, at, spelling);
    const index = Number(url.searchParams.get("index") ?? "0");
    if (
      !view.done ||
      view.failed ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= task.images
    ) {
      return { status: 404, body: { code: "not_found", message: "result not found", data: null } };
    }
    const finishedAt = task.info.submittedAt + task.durationMs;
    if (task.expire || at - finishedAt > resultTtlMs) {
      return { status: 410, body: { code: "expired", message: "result expired", data: null } };
    }
    return {
      status: 200,
      parts: imageParts(task.info.taskId, index, task.format, options.imageBytes),
      contentType: contentTypes[task.format],
    };
  }

  /**
   * The synchronous mode (an OpenAI-compatible images API): the call creates
   * a task as a submit does (counted in `submits`), waits its duration and
   * answers with the images as base64, or with the error OpenAI would give.
   */
  async function answerSync(
    key: string,
    edit: boolean,
    raw: Buffer | undefined,
  ): Promise<JsonAnswer> {
    let parsed: unknown;
    try {
      parsed = raw === undefined ? undefined : JSON.parse(raw.toString("utf8"));
    } catch {
      parsed = undefined;
    }
    if (raw === undefined) return openaiError(413, "Request body too large.", "request_too_large");
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return openaiError(400, "We could not parse the JSON body of your request.", "invalid_json");
    }
    // An edit's `images: [{image_url}]` is the async API's `image_url`.
    const { images, ...rest } = parsed as Record<string, unknown>;
    if (edit && !Array.isArray(images)) {
      return openaiError(
        400,
        "Missing required parameter: 'images'.",
        "missing_required_parameter",
      );
    }
    const fields: Record<string, unknown> = { ...rest };
    if (Array.isArray(images)) {
      fields.image_url = images.map((image) => (image as { image_url?: unknown })?.image_url);
    }
    const checked = checkSubmit(Buffer.from(JSON.stringify(fields)));
    if ("error" in checked) {
      const { message, code } = (checked.error.body as { error: { message: string; code: string } })
        .error;
      const status = code === "model_not_found" ? 404 : checked.error.status;
      return openaiError(status, message, code || "invalid_request_error");
    }
    const info = createTask(key, checked.body, checked.model);
    const task = tasks.get(info.taskId) as SimTask;
    if (task.durationMs > 0) await delay(task.durationMs);
    if (task.failReason !== undefined) {
      return openaiError(400, task.failReason, "moderation_blocked");
    }
    return {
      status: 200,
      body: {
        created: Math.floor(now() / 1000),
        data: Array.from({ length: task.images }, (_, index) => ({
          b64_json: Buffer.concat(
            imageParts(info.taskId, index, task.format, options.imageBytes),
          ).toString("base64"),
        })),
      },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    let route: SimRoute | undefined;
    let taskId: string | undefined;
    const taskMatch = /^\/v1\/images\/tasks\/([^/]+)(\/content)?$/.exec(url.pathname);
    if (req.method === "POST" && url.pathname === "/v1/images/generations/async") {
      route = "submit";
    } else if (
      req.method === "POST" &&
      (url.pathname === "/v1/images/generations" || url.pathname === "/v1/images/edits")
    ) {
      route = "images";
    } else if (req.method === "GET" && taskMatch) {
      route = taskMatch[2] ? "download" : "read";
      const segment = taskMatch[1] as string;
      // A malformed escape is just an id no task has.
      try {
        taskId = decodeURIComponent(segment);
      } catch {
        taskId = segment;
      }
    }
    if (!route) {
      sendJson(res, 404, newApiError(404, "not found", "not_found").body);
      return;
    }
    counts[route]++;
    const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    const key = auth?.[1] ?? null;
    const log = (status: number) => {
      if (!record) return;
      const entry: SimRequestRecord = { route: route as SimRoute, key, status, at: now() };
      if (taskId !== undefined) entry.taskId = taskId;
      requests.push(entry);
    };

    const raw = route === "submit" || route === "images" ? await readBody(req) : undefined;
    const fault = faults.take(route);
    /** Delays, drops or replaces the answer as the fault says; true when it answered. */
    const applyFault = async (): Promise<boolean> => {
      if (!fault) return false;
      if (fault.delayMs) await delay(fault.delayMs);
      if (fault.destroy) {
        log(0);
        req.socket.destroy();
        return true;
      }
      const injected = faultAnswer(fault);
      if (!injected) return false;
      log(injected.status);
      sendFault(res, injected);
      return true;
    };
    // A pass-through fault lets the real work happen first (e.g. create the task).
    if (!fault?.passThrough && (await applyFault())) return;

    const authorized = key !== null && keys.has(key);
    const real =
      route === "images"
        ? authorized
          ? await answerSync(key, url.pathname.endsWith("/edits"), raw)
          : openaiError(401, "Incorrect API key provided.", "invalid_api_key")
        : authorized
          ? answer(route, key, taskId, url, raw)
          : newApiError(401, "invalid token", "invalid_api_key");

    if (fault?.passThrough && (await applyFault())) return;
    log(real.status);
    if ("parts" in real) {
      const length = real.parts.reduce((sum, part) => sum + part.length, 0);
      res.writeHead(200, {
        "content-type": real.contentType,
        "content-length": length,
        ...fault?.headers,
      });
      // The parts are shared, cached buffers: writing them queues references,
      // not copies, so there is no need to wait for 'drain' between them.
      for (const part of real.parts) res.write(part);
      res.end();
      return;
    }
    sendJson(res, real.status, real.body, fault?.headers);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, newApiError(500, "simulator error", "").body);
      else res.destroy();
    });
  });
  // Clients keep connections alive across polls; do not close them under them.
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? "127.0.0.1";
  server.listen(options.port ?? 0, host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const listening = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  base = options.publicUrl?.replace(/\/+$/, "") ?? listening;

  return {
    url: listening,
    submits,
    requests,
    counts,
    inject(fault) {
      faults.push(fault);
    },
    addKey(key) {
      keys.add(key);
    },
    task(id) {
      return tasks.get(id)?.info;
    },
    image(id, index) {
      const format = tasks.get(id)?.format ?? "png";
      return {
        bytes: Buffer.concat(imageParts(id, index, format, options.imageBytes)),
        contentType: contentTypes[format],
      };
    },
    references(id) {
      return referenceChecks.get(id) ?? Promise.resolve([]);
    },
    async waitForSubmits(count) {
      while (submits.length < count) await once(submitted, "submit");
    },
    async close() {
      if (!server.listening) return;
      for (const timer of delays) clearTimeout(timer);
      delays.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
