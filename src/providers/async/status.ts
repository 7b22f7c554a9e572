// Normalises the upstream's task reads (UPSTREAM.md "What a robust client
// tolerates"): states in any case, progress as a number or "NN%" or absent,
// the new-api `{code, message, data}` wrapper or a bare task object, results
// in `data.data[]`, `data[]` or only `result_url`.
import { lookupTable } from "../../lookup-table.js";
import { nonEmptyString, record } from "../failures.js";

export type TaskState = "pending" | "succeeded" | "failed";

export interface TaskSnapshot {
  state: TaskState;
  /** The upstream's own spelling, for logs and messages. */
  rawStatus: string;
  /** 0..1 when the upstream reports it. */
  progress: number | undefined;
  /** How many result images the task has (download indices 0..resultCount-1). */
  resultCount: number;
  /** Present when state is "failed". */
  failReason: string | undefined;
}

const finalStates = lookupTable<TaskState>({
  success: "succeeded",
  succeeded: "succeeded",
  failure: "failed",
  failed: "failed",
});

/** Only SUCCESS and FAILURE are final; anything else, empty or unknown, is still running. */
export function normaliseState(status: unknown): TaskState {
  if (typeof status !== "string") return "pending";
  return finalStates[status.trim().toLowerCase()] ?? "pending";
}

/** `1`, `"45%"`, `"45"`, `0.45` → a fraction; anything else → undefined. */
export function normaliseProgress(progress: unknown): number | undefined {
  let value: number;
  if (typeof progress === "number") value = progress;
  else if (typeof progress === "string") {
    const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(progress);
    if (!match) return undefined;
    value = Number(match[1]);
  } else return undefined;
  if (!Number.isFinite(value) || value < 0) return undefined;
  // A "%" sign always means percent; a bare number is percent unless it is
  // clearly already a fraction (the submit answer's `1` is 1%).
  const percent =
    (typeof progress === "string" && progress.includes("%")) ||
    value > 1 ||
    Number.isInteger(value);
  const fraction = percent ? value / 100 : value;
  return Math.min(fraction, 1);
}

/** Counts result entries wherever the family puts them. */
function countResults(task: Record<string, unknown>): number {
  const inner = task.data;
  const list = Array.isArray(inner) ? inner : record(inner)?.data;
  const urls = Array.isArray(list) ? list.filter((item) => record(item) !== undefined).length : 0;
  if (urls > 0) return urls;
  return nonEmptyString(task.result_url) ? 1 : 0;
}

/**
 * Reads one task response body. Returns undefined when the body is not a task
 * at all (the caller treats that as a transient bad response).
 */
export function normaliseTask(body: unknown): TaskSnapshot | undefined {
  const outer = record(body);
  if (!outer) return undefined;
  // new-api wraps the task in {code, message, data}; tolerate a bare task too.
  const wrapped = record(outer.data);
  const task = wrapped && ("status" in wrapped || "task_id" in wrapped) ? wrapped : outer;
  if (!("status" in task) && !("task_id" in task)) return undefined;

  const state = normaliseState(task.status);
  const failReason =
    state === "failed"
      ? (nonEmptyString(task.fail_reason) ??
        nonEmptyString(outer.message) ??
        nonEmptyString(task.message) ??
        nonEmptyString(record(task.error)?.message) ??
        nonEmptyString(record(outer.error)?.message) ??
        "the upstream reported FAILURE without a reason")
      : undefined;
  return {
    state,
    rawStatus: typeof task.status === "string" ? task.status : "",
    progress: normaliseProgress(task.progress),
    resultCount: state === "succeeded" ? countResults(task) : 0,
    failReason,
  };
}

/** Finds the upstream's task id in a submit answer (`task_id`, else `id`). */
export function submittedTaskId(body: unknown): string | undefined {
  const outer = record(body);
  if (!outer) return undefined;
  const inner = record(outer.data);
  return (
    nonEmptyString(outer.task_id) ??
    nonEmptyString(outer.id) ??
    nonEmptyString(inner?.task_id) ??
    nonEmptyString(inner?.id)
  );
}
