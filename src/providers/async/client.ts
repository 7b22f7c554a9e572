// The seed's asynchronous task API over undici (UPSTREAM.md): submit, read,
// download. Takes a base URL, a credential and a body; knows nothing of
// tenants, Fastify or OpenAI shapes. Its failures are UpstreamErrors
// (providers/failures.ts).
import type { Dispatcher } from "undici";
import {
  type Download,
  errorCode,
  errorMessageOf,
  header,
  parseRetryAfter,
  readJson,
  sendFailureKind,
  submitRefusal,
  UpstreamError,
  type UpstreamErrorKind,
} from "../failures.js";
import { type EncodedBody, encodeJsonBody } from "../json-body.js";
import { normaliseTask, submittedTaskId, type TaskSnapshot } from "./status.js";

export interface UpstreamClient {
  /** Submits a task; resolves to the upstream task id. */
  submit(credential: string, body: Record<string, unknown>): Promise<string>;
  read(credential: string, taskId: string): Promise<TaskSnapshot>;
  /** Opens result `index`; the caller must consume or destroy `body`. */
  download(credential: string, taskId: string, index: number): Promise<Download>;
}

export interface UpstreamClientOptions {
  baseUrl: string;
  /**
   * The connections, the caller's to close: the registry's Agent in
   * production, a MockAgent in unit tests (DESIGN.md "How the code should feel", 7).
   */
  dispatcher: Dispatcher;
  /** Longest wait for a submit's answer before it counts as ambiguous. */
  submitTimeoutMs?: number;
  readTimeoutMs?: number;
  /** Longest silence between chunks of a download. */
  downloadIdleTimeoutMs?: number;
  /** Largest body the upstream takes: a larger submit is refused before it is sent. */
  maxBodyBytes?: number;
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const base = new URL(options.baseUrl);
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, "");
  const submitTimeoutMs = options.submitTimeoutMs ?? 60_000;
  const readTimeoutMs = options.readTimeoutMs ?? 30_000;
  const downloadIdleTimeoutMs = options.downloadIdleTimeoutMs ?? 60_000;
  const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  const { dispatcher } = options;

  const authorization = (credential: string) => `Bearer ${credential}`;

  async function send(
    method: "GET" | "POST",
    path: string,
    credential: string,
    timeoutMs: number,
    body?: string | EncodedBody,
    bodyTimeoutMs = timeoutMs,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {
      authorization: authorization(credential),
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (body !== undefined && typeof body !== "string") {
      headers["content-length"] = String(body.length);
    }
    return dispatcher.request({
      origin,
      path: `${prefix}${path}`,
      method,
      headers,
      body: body === undefined ? null : typeof body === "string" ? body : body.open(),
      headersTimeout: timeoutMs,
      bodyTimeout: bodyTimeoutMs,
    });
  }

  function failure(kind: UpstreamErrorKind, what: string, err: unknown): UpstreamError {
    const code = errorCode(err);
    return new UpstreamError(kind, `${what}: ${code ?? "network error"}`, {
      ...(code === undefined ? {} : { code }),
      cause: err,
    });
  }

  return {
    async submit(credential, payload) {
      let body: string | EncodedBody;
      try {
        body = encodeJsonBody(payload);
      } catch (err) {
        throw new UpstreamError("local", "the submit body could not be built", { cause: err });
      }
      const length = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      if (length > maxBodyBytes) {
        throw new UpstreamError(
          "local",
          `the submit body would be ${length} bytes, more than the upstream takes (${maxBodyBytes})`,
          { status: 413 },
        );
      }
      let response: Dispatcher.ResponseData;
      try {
        response = await send(
          "POST",
          "/v1/images/generations/async",
          credential,
          submitTimeoutMs,
          body,
        );
      } catch (err) {
        // A file that could not be read cut the body short: the upstream
        // never had a complete request, so no task exists.
        // undici stops a body longer than it declared before the extra byte
        // goes out: likewise incomplete, likewise ours.
        const tooLong = errorCode(err) === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH";
        if (typeof body !== "string" && (body.localError !== undefined || tooLong)) {
          throw new UpstreamError("local", "an uploaded reference could not be read", {
            cause: body.localError ?? err,
          });
        }
        throw failure(sendFailureKind(err), "upstream submit failed", err);
      }
      const status = response.statusCode;
      let json: unknown;
      try {
        json = await readJson(response.body);
      } catch (err) {
        // The answer was cut off: whether a task exists is unknown.
        throw failure("ambiguous", "upstream submit answer was cut off", err);
      }
      if (status >= 200 && status < 300) {
        const taskId = submittedTaskId(json);
        if (taskId === undefined) {
          throw new UpstreamError("ambiguous", "upstream accepted the submit without a task id", {
            status,
          });
        }
        return taskId;
      }
      throw submitRefusal(response, json);
    },

    async read(credential, taskId) {
      let response: Dispatcher.ResponseData;
      try {
        response = await send(
          "GET",
          `/v1/images/tasks/${encodeURIComponent(taskId)}`,
          credential,
          readTimeoutMs,
        );
      } catch (err) {
        throw failure("transient", "upstream task read failed", err);
      }
      const status = response.statusCode;
      let json: unknown;
      try {
        json = await readJson(response.body);
      } catch (err) {
        throw failure("transient", "upstream task read was cut off", err);
      }
      if (status >= 200 && status < 300) {
        const snapshot = normaliseTask(json);
        if (!snapshot) {
          throw new UpstreamError("transient", "upstream task read is not a task object", {
            status,
          });
        }
        return snapshot;
      }
      const { message, code } = errorMessageOf(json);
      if (status === 404 || code === "task_not_exist") {
        throw new UpstreamError("task_not_exist", `upstream does not know task ${taskId}`, {
          status,
          code: code ?? "task_not_exist",
        });
      }
      const retryAfterMs = parseRetryAfter(header(response.headers, "retry-after"));
      throw new UpstreamError(
        status === 429 ? "rate_limited" : "transient",
        message ?? `HTTP ${status}`,
        {
          status,
          ...(code === undefined ? {} : { code }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      );
    },

    async download(credential, taskId, index) {
      let response: Dispatcher.ResponseData;
      try {
        response = await dispatcher.request({
          origin,
          path: `${prefix}/v1/images/tasks/${encodeURIComponent(taskId)}/content?index=${index}`,
          method: "GET",
          headers: { authorization: authorization(credential) },
          headersTimeout: readTimeoutMs,
          bodyTimeout: downloadIdleTimeoutMs,
        });
      } catch (err) {
        throw failure("transient", "upstream download failed", err);
      }
      const status = response.statusCode;
      if (status !== 200) {
        const { message, code } = errorMessageOf(await readJson(response.body).catch(() => null));
        const gone = status === 404 || status === 410 || status === 502;
        const kind: UpstreamErrorKind = gone
          ? "gone"
          : code === "task_not_exist"
            ? "task_not_exist"
            : "transient";
        const retryAfterMs = parseRetryAfter(header(response.headers, "retry-after"));
        throw new UpstreamError(kind, message ?? `HTTP ${status}`, {
          status,
          ...(code === undefined ? {} : { code }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      const length = Number(header(response.headers, "content-length"));
      return {
        contentType: header(response.headers, "content-type"),
        contentLength: Number.isFinite(length) ? length : undefined,
        body: response.body,
      };
    },
  };
}
