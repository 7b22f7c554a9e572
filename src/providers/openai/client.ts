// A synchronous OpenAI-compatible images upstream (OpenAI, Azure OpenAI, any
// server that answers POST /images/generations and /images/edits with the
// images): one call per generation, whose answer holds the images as base64
// or as URLs. Its failures are UpstreamErrors of the same kinds as the async
// submit's, so that failover and the "never pay twice" rules read the same:
// nothing sent → unreachable; 4xx → refused; 429 → rate_limited; a 5xx, a
// timeout or a cut answer → ambiguous (the call may have been billed).
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import {
  type Download,
  header,
  readJson,
  sendFailureKind,
  submitRefusal,
  UpstreamError,
} from "../failures.js";
import { type EncodedBody, encodeJsonBody } from "../json-body.js";
import { openaiImagesCall } from "./body.js";
import { openaiCallTimeoutMs } from "./models.js";

/** One image of a synchronous answer. */
export type SyncImage = { b64: string } | { url: string };

export interface SyncImagesClient {
  /**
   * Makes the images; resolves with those the answer holds (possibly fewer
   * than asked). `signal` cuts the call (the gateway shutting down): it then
   * fails as ambiguous, since the upstream may be making the images anyway.
   */
  create(
    baseUrl: string,
    credential: string,
    submitBody: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<SyncImage[]>;
  /**
   * Opens an image the answer gave as a URL. The credential goes only to the
   * channel's own origin: OpenAI's result URLs are pre-signed storage links.
   */
  open(baseUrl: string, credential: string, url: string): Promise<Download>;
}

export interface OpenAIClientOptions {
  dispatcher: Dispatcher;
  /** Longest wait for the answer (default 10 min, as OpenAI's SDK). */
  callTimeoutMs?: number;
  /** Longest silence between chunks of an image fetched by URL. */
  downloadIdleTimeoutMs?: number;
  /** Largest body the upstream takes: a larger call is refused before it is sent. */
  maxBodyBytes?: number;
}

function imagesOf(json: unknown): SyncImage[] | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const data = (json as { data?: unknown }).data;
  if (!Array.isArray(data)) return undefined;
  const images: SyncImage[] = [];
  for (const item of data) {
    const { b64_json: b64, url } = (item ?? {}) as { b64_json?: unknown; url?: unknown };
    if (typeof b64 === "string" && b64 !== "") images.push({ b64 });
    else if (typeof url === "string" && url !== "") images.push({ url });
  }
  return images;
}

export function createOpenAIImagesClient(options: OpenAIClientOptions): SyncImagesClient {
  const { dispatcher } = options;
  const callTimeoutMs = options.callTimeoutMs ?? openaiCallTimeoutMs;
  const idleMs = options.downloadIdleTimeoutMs ?? 60_000;
  const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;

  return {
    async create(baseUrl, credential, submitBody, signal) {
      const call = openaiImagesCall(submitBody);
      let body: string | EncodedBody;
      try {
        body = encodeJsonBody(call.body);
      } catch (err) {
        throw new UpstreamError("local", "the call's body could not be built", { cause: err });
      }
      const length = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      if (length > maxBodyBytes) {
        throw new UpstreamError(
          "local",
          `the call's body would be ${length} bytes, more than the upstream takes (${maxBodyBytes})`,
          { status: 413 },
        );
      }
      const url = new URL(`${baseUrl.replace(/\/+$/, "")}${call.path}`);
      let response: Dispatcher.ResponseData;
      try {
        response = await dispatcher.request({
          origin: url.origin,
          path: url.pathname,
          method: "POST",
          headers: {
            authorization: `Bearer ${credential}`,
            accept: "application/json",
            "content-type": "application/json",
            "content-length": String(length),
          },
          body: typeof body === "string" ? body : body.open(),
          headersTimeout: callTimeoutMs,
          bodyTimeout: callTimeoutMs,
          ...(signal === undefined ? {} : { signal }),
        });
      } catch (err) {
        if (typeof body !== "string" && body.localError !== undefined) {
          throw new UpstreamError("local", "an uploaded reference could not be read", {
            cause: body.localError,
          });
        }
        throw new UpstreamError(sendFailureKind(err), "upstream images call failed", {
          cause: err,
        });
      }
      let json: unknown;
      try {
        json = await readJson(response.body);
      } catch (err) {
        throw new UpstreamError("ambiguous", "upstream images answer was cut off", { cause: err });
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw submitRefusal(response, json);
      }
      const images = imagesOf(json);
      if (images === undefined) {
        throw new UpstreamError("ambiguous", "upstream images answer holds no data list", {
          status: response.statusCode,
        });
      }
      return images;
    },

    async open(baseUrl, credential, resultUrl) {
      const target = new URL(resultUrl);
      const sameOrigin = target.origin === new URL(baseUrl).origin;
      let response: Dispatcher.ResponseData;
      try {
        response = await dispatcher.request({
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: "GET",
          headers: sameOrigin ? { authorization: `Bearer ${credential}` } : {},
          headersTimeout: idleMs,
          bodyTimeout: idleMs,
        });
      } catch (err) {
        throw new UpstreamError("transient", "upstream image fetch failed", { cause: err });
      }
      if (response.statusCode !== 200) {
        await response.body.dump().catch(() => {});
        const gone = [403, 404, 410].includes(response.statusCode);
        throw new UpstreamError(gone ? "gone" : "transient", `HTTP ${response.statusCode}`, {
          status: response.statusCode,
        });
      }
      const length = Number(header(response.headers, "content-length"));
      return {
        contentType: header(response.headers, "content-type"),
        contentLength: Number.isFinite(length) ? length : undefined,
        body: response.body as Readable,
      };
    },
  };
}
