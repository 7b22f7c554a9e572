// What upstream trouble means to the caller. Upstream refusals keep their
// meaning (a rejected upstream key is not the caller's 401), and every error
// raised after a submit may have reached the upstream carries
// `x-should-retry: false`: the OpenAI SDK would otherwise retry and pay twice.
import { GatewayError, UpstreamFailureError } from "../errors.js";
import type { UpstreamError } from "../upstream/client.js";
import type { TaskWaitError } from "../upstream/poller.js";

/** Reasons the upstream gives when a prompt or image was refused for safety. */
const contentPolicy =
  /content[\s_-]?polic|safety|moderat|blocked|prohibit|violat|nsfw|sexual|inappropriate|harmful|sensitive|IMAGE_SAFETY|PROHIBITED_CONTENT/i;

export function isContentPolicyReason(reason: string): boolean {
  return contentPolicy.test(reason);
}

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/** Which model the caller named, and the upstream model it runs on. */
export interface ModelNames {
  caller: string;
  upstream: string;
}

/**
 * The error in the caller's names: a message (often the upstream's own words)
 * that names the upstream model names the one the caller wrote instead
 * (`dall-e-2`, not `gpt-image-2`). Anything else is returned as it is.
 */
export function inCallerNames(err: unknown, names: ModelNames | undefined): unknown {
  if (names === undefined || names.caller === names.upstream) return err;
  if (!(err instanceof GatewayError) || !err.message.includes(names.upstream)) return err;
  const Kind = err.constructor as typeof GatewayError;
  return new Kind({
    status: err.status,
    type: err.type,
    code: err.code,
    param: err.param,
    headers: err.headers,
    ...(err.retryable === undefined ? {} : { retryable: err.retryable }),
    message: err.message.split(names.upstream).join(names.caller),
    cause: err,
  });
}

/** A submit that did not produce a task. */
export function submitFailure(err: UpstreamError): GatewayError {
  const upstreamSays = err.message;
  switch (err.kind) {
    case "unreachable":
      return new UpstreamFailureError({
        status: 503,
        type: "server_error",
        code: "upstream_unreachable",
        message: "The image service upstream cannot be reached; nothing was submitted.",
        headers: { "retry-after": "5" },
        cause: err,
      });
    case "rate_limited":
      return new UpstreamFailureError({
        status: 429,
        type: "rate_limit_error",
        code: "upstream_rate_limited",
        message: `The upstream is rate limiting requests; nothing was submitted. (${upstreamSays})`,
        headers: { "retry-after": seconds(err.retryAfterMs ?? 5_000) },
        cause: err,
      });
    case "local":
      if (err.status === 413) {
        return new GatewayError({
          status: 413,
          type: "invalid_request_error",
          code: "request_too_large",
          param: "image",
          message:
            "With its reference images this request is larger than the upstream accepts; nothing was submitted. Send fewer or smaller images.",
          cause: err,
        });
      }
      return new GatewayError({
        status: 500,
        type: "server_error",
        code: "submit_not_sent",
        message:
          "The gateway could not send this request to the upstream; nothing was submitted or charged.",
        cause: err,
      });
    case "ambiguous":
      return new UpstreamFailureError({
        status: 502,
        type: "upstream_error",
        code: "upstream_submit_unconfirmed",
        message:
          "The upstream did not confirm the task submission. It was not resubmitted, to avoid a double charge.",
        retryable: false,
        cause: err,
      });
    default:
      return refusal(err);
  }
}

/** A definite refusal from the upstream (UPSTREAM.md "Submit errors"). */
function refusal(err: UpstreamError): GatewayError {
  const upstreamSays = err.message;
  const code = err.code ?? "";
  if (err.status === 401) {
    return new UpstreamFailureError({
      status: 502,
      type: "upstream_error",
      code: "upstream_authentication_failed",
      message: "The upstream rejected the gateway's credential for this tenant.",
      retryable: false,
      cause: err,
    });
  }
  if (/quota|balance/i.test(code) || /quota|balance/i.test(upstreamSays)) {
    return new GatewayError({
      status: 429,
      type: "insufficient_quota",
      code: "insufficient_quota",
      message: `The upstream account has insufficient balance: ${upstreamSays}`,
      retryable: false,
      cause: err,
    });
  }
  if (err.status === 403) {
    return new GatewayError({
      status: 403,
      type: "permission_error",
      code: "upstream_permission_denied",
      message: `The upstream refused this request: ${upstreamSays}`,
      param: "model",
      cause: err,
    });
  }
  if (code === "model_not_found") {
    return new UpstreamFailureError({
      status: 503,
      type: "server_error",
      code: "model_unavailable",
      message: `No upstream channel serves this model right now: ${upstreamSays}`,
      retryable: false,
      cause: err,
    });
  }
  if (err.status === 413) {
    return new GatewayError({
      status: 413,
      type: "invalid_request_error",
      code: "request_too_large",
      message: `The upstream refused the request as too large: ${upstreamSays}`,
      cause: err,
    });
  }
  if (isContentPolicyReason(upstreamSays)) {
    return new GatewayError({
      status: 400,
      type: "invalid_request_error",
      code: "content_policy_violation",
      message: upstreamSays,
      param: "prompt",
      cause: err,
    });
  }
  // Other 4xx (and the 500 invalid_request some services send): a parameter
  // the upstream did not accept. Say what it said.
  return new GatewayError({
    status: 400,
    type: "invalid_request_error",
    code: "upstream_rejected",
    message: `The upstream rejected the request: ${upstreamSays}`,
    cause: err,
  });
}

/** The upstream ran the task and it ended in FAILURE (as opposed to trouble reaching it). */
export class TaskFailedError extends GatewayError {}

/** The task ended in FAILURE. */
export function taskFailure(taskId: string, reason: string): GatewayError {
  if (isContentPolicyReason(reason)) {
    return new TaskFailedError({
      status: 400,
      type: "invalid_request_error",
      code: "content_policy_violation",
      message: `${reason} (upstream task ${taskId})`,
      param: "prompt",
      retryable: false,
    });
  }
  return new TaskFailedError({
    status: 502,
    type: "upstream_error",
    code: "upstream_task_failed",
    message: `The upstream task ${taskId} failed: ${reason}`,
    retryable: false,
  });
}

/** The wait for a task ended without a final state. */
export function waitFailure(err: TaskWaitError): GatewayError {
  switch (err.reason) {
    case "deadline":
      return new UpstreamFailureError({
        status: 504,
        type: "timeout_error",
        code: "generation_timeout",
        message: `The upstream task ${err.taskId} did not finish while its results could still be collected (about two hours).`,
        retryable: false,
        cause: err,
      });
    case "lost":
      return new UpstreamFailureError({
        status: 502,
        type: "upstream_error",
        code: "upstream_task_lost",
        message: `The upstream no longer knows task ${err.taskId}.`,
        retryable: false,
        cause: err,
      });
    case "unavailable":
      return new UpstreamFailureError({
        status: 502,
        type: "upstream_error",
        code: "upstream_unavailable",
        message: `The upstream could not be reached while waiting for task ${err.taskId}.`,
        retryable: false,
        cause: err,
      });
    case "closed":
      return new UpstreamFailureError({
        status: 503,
        type: "server_error",
        code: "shutting_down",
        message: `The gateway is shutting down; upstream task ${err.taskId} is still recorded and will be collected when the gateway starts again.`,
        retryable: false,
        cause: err,
      });
  }
}

export function downloadFailure(taskId: string, detail: string): GatewayError {
  return new UpstreamFailureError({
    status: 502,
    type: "upstream_error",
    code: "upstream_result_unavailable",
    message: `The result of upstream task ${taskId} could not be downloaded: ${detail}`,
    retryable: false,
  });
}

/**
 * An upstream result past IMAGEGATE_MAX_RESULT_MB: refused so that a broken
 * upstream cannot fill the disk; the generation is recorded as failed.
 */
export const resultTooLargeCode = "upstream_result_too_large";

export function resultTooLarge(taskId: string, index: number, maxBytes: number): GatewayError {
  return new TaskFailedError({
    status: 502,
    type: "upstream_error",
    code: resultTooLargeCode,
    message: `Result ${index} of upstream task ${taskId} is larger than ${Math.floor(maxBytes / 1024 / 1024)} MB, the most this gateway accepts; it was discarded.`,
    retryable: false,
  });
}

/** A synchronous caller's wait ran out; the generation goes on in the background. */
export function stillRunning(recordId: string, upstreamTaskId?: string): GatewayError {
  const upstream = upstreamTaskId === undefined ? "" : ` (upstream task ${upstreamTaskId})`;
  return new GatewayError({
    status: 504,
    type: "timeout_error",
    code: "generation_timeout",
    message: `The image is still being generated by task ${recordId}${upstream}, which goes on and keeps its result: fetch it with GET /v1/images/tasks/${recordId} and /v1/images/tasks/${recordId}/content?index=0.`,
    retryable: false,
  });
}

/** The circuit breaker is open: the upstream keeps failing, so nothing is submitted. */
export function circuitOpen(retryAfterMs: number): GatewayError {
  return new UpstreamFailureError({
    status: 503,
    type: "server_error",
    code: "upstream_unavailable",
    message:
      "The image service upstream is failing right now; nothing was submitted. Retry after the time in retry-after.",
    headers: { "retry-after": seconds(retryAfterMs) },
  });
}

/** The record of a generation could not be written: nothing was submitted (nor charged). */
export function recordUnavailable(cause: unknown): GatewayError {
  return new GatewayError({
    status: 503,
    type: "server_error",
    code: "record_unavailable",
    message:
      "The gateway could not record this generation, so nothing was submitted. Try again in a moment.",
    headers: { "retry-after": "1" },
    retryable: true,
    cause,
  });
}

/** Every channel that serves the model is at its max_concurrent: nothing was submitted. */
export function channelsBusy(): GatewayError {
  return new UpstreamFailureError({
    status: 503,
    type: "server_error",
    code: "upstream_busy",
    message:
      "Every upstream account that serves this model is at its concurrency limit; nothing was submitted. Retry after the time in retry-after.",
    headers: { "retry-after": "1" },
  });
}

/** No channel (upstream account) is configured for the model: an operator's matter, not the caller's. */
export function noChannel(model: string): GatewayError {
  return new GatewayError({
    status: 503,
    type: "server_error",
    code: "no_upstream_channel",
    message: `No upstream account is configured for model ${model}; nothing was submitted.`,
    headers: { "retry-after": "30" },
    retryable: true,
  });
}
