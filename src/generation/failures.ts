// What upstream trouble means to the caller. Upstream refusals keep their
// meaning (a rejected upstream key is not the caller's 401), and every error
// raised after a submit may have reached the upstream carries
// `x-should-retry: false`: the OpenAI SDK would otherwise retry and pay twice.
import { errorSpec, GatewayError, gatewayError, withMessage } from "../errors.js";
import type { UpstreamError } from "../providers/failures.js";
import type { TaskWaitError } from "../upstream/poller.js";

/** Reasons the upstream gives when a prompt or image was refused for safety. */
const contentPolicy =
  /content[\s_-]?polic|safety|moderat|blocked|prohibit|violat|nsfw|sexual|inappropriate|harmful|sensitive|IMAGE_SAFETY|PROHIBITED_CONTENT/i;

export function isContentPolicyReason(reason: string): boolean {
  return contentPolicy.test(reason);
}

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
  return withMessage(err, err.message.split(names.upstream).join(names.caller));
}

/** A submit that did not produce a task. */
export function submitFailure(err: UpstreamError): GatewayError {
  const upstreamSays = err.message;
  const withCause = { cause: err };
  switch (err.kind) {
    case "unreachable":
      return gatewayError("upstream_unreachable", undefined, withCause);
    case "rate_limited":
      return gatewayError(
        "upstream_rate_limited",
        { upstreamSays, retryAfterMs: err.retryAfterMs },
        withCause,
      );
    case "local":
      if (err.status === 413) {
        return gatewayError("request_too_large", {}, { param: "image", cause: err });
      }
      return gatewayError("submit_not_sent", undefined, withCause);
    case "ambiguous":
      return gatewayError("upstream_submit_unconfirmed", {}, withCause);
    default:
      return refusal(err);
  }
}

/** A definite refusal from the upstream (UPSTREAM.md "Submit errors"). */
function refusal(err: UpstreamError): GatewayError {
  const upstreamSays = err.message;
  const code = err.code ?? "";
  const withCause = { cause: err };
  if (err.status === 401)
    return gatewayError("upstream_authentication_failed", undefined, withCause);
  if (/quota|balance/i.test(code) || /quota|balance/i.test(upstreamSays)) {
    return gatewayError("upstream_insufficient_quota", { upstreamSays }, withCause);
  }
  if (err.status === 403)
    return gatewayError("upstream_permission_denied", { upstreamSays }, withCause);
  if (code === "model_not_found")
    return gatewayError("model_unavailable", { upstreamSays }, withCause);
  if (err.status === 413) return gatewayError("request_too_large", { upstreamSays }, withCause);
  if (isContentPolicyReason(upstreamSays)) {
    return gatewayError("content_policy_violation", { reason: upstreamSays }, withCause);
  }
  // Other 4xx (and the 500 invalid_request some services send): a parameter
  // the upstream did not accept. Say what it said.
  return gatewayError("upstream_rejected", { upstreamSays }, withCause);
}

/** The upstream ran the task and it ended in FAILURE (as opposed to trouble reaching it). */
export class TaskFailedError extends GatewayError {}

/** The task ended in FAILURE. */
export function taskFailure(taskId: string, reason: string): GatewayError {
  if (isContentPolicyReason(reason)) {
    return new TaskFailedError(errorSpec("content_policy_violation", { reason, taskId }));
  }
  return new TaskFailedError(errorSpec("upstream_task_failed", { taskId, reason }));
}

/** The wait for a task ended without a final state. */
export function waitFailure(err: TaskWaitError): GatewayError {
  const { taskId } = err;
  const withCause = { cause: err };
  switch (err.reason) {
    case "deadline":
      return gatewayError("upstream_task_expired", { taskId }, withCause);
    case "lost":
      return gatewayError("upstream_task_lost", { taskId }, withCause);
    case "unavailable":
      return gatewayError("upstream_unreachable_while_waiting", { taskId }, withCause);
    case "closed":
      return gatewayError("shutting_down", { taskId }, withCause);
  }
}

export function downloadFailure(taskId: string, detail: string): GatewayError {
  return gatewayError("upstream_result_unavailable", { taskId, detail });
}

/**
 * An upstream result past IMAGEGATE_MAX_RESULT_MB: refused so that a broken
 * upstream cannot fill the disk; the generation is recorded as failed.
 */
export const resultTooLargeCode = "upstream_result_too_large";

export function resultTooLarge(taskId: string, index: number, maxBytes: number): GatewayError {
  return new TaskFailedError(errorSpec(resultTooLargeCode, { taskId, index, maxBytes }));
}

/** A synchronous caller's wait ran out; the generation goes on in the background. */
export function stillRunning(recordId: string, upstreamTaskId?: string): GatewayError {
  return gatewayError("generation_timeout", { recordId, upstreamTaskId });
}

/** The circuit breaker is open: the upstream keeps failing, so nothing is submitted. */
export function circuitOpen(retryAfterMs: number): GatewayError {
  return gatewayError("upstream_unavailable", { retryAfterMs });
}

/** The record of a generation could not be written: nothing was submitted (nor charged). */
export function recordUnavailable(cause: unknown): GatewayError {
  return gatewayError("record_unavailable", undefined, { cause });
}

/** Every channel that serves the model is at its max_concurrent: nothing was submitted. */
export function channelsBusy(): GatewayError {
  return gatewayError("upstream_busy");
}

/** No channel (upstream account) is configured for the model: an operator's matter, not the caller's. */
export function noChannel(model: string): GatewayError {
  return gatewayError("no_upstream_channel", { model });
}
