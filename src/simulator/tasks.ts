// Simulated tasks: everything about a task's state is computed from the time
// elapsed since its submit, so tests with a fake `now` need no timers.
import type { SimImageFormat } from "./images.js";
import { isProgressProfile, type ProgressProfile, progressAt } from "./progress.js";

export interface SimTaskInfo {
  taskId: string;
  key: string;
  /** The resolved model id. */
  model: string;
  requestedModel: string;
  prompt: string;
  n: number;
  size?: string;
  quality?: string;
  /** The submit body exactly as received. */
  body: Record<string, unknown>;
  submittedAt: number;
}

export interface SimTask {
  info: SimTaskInfo;
  durationMs: number;
  images: number;
  format: SimImageFormat;
  failReason: string | undefined;
  lose: boolean;
  expire: boolean;
  /** Leave progress out of reads (the "mixed" spelling does on every other task). */
  omitProgress: boolean;
  /** How progress climbs to the finish. */
  profile: ProgressProfile;
  /** With failReason: fail this long after the submit, whatever progress said (default durationMs). */
  failAfterMs: number | undefined;
}

export interface Directives {
  failReason?: string;
  lose: boolean;
  expire: boolean;
  images?: number;
  durationMs?: number;
  profile?: ProgressProfile;
  failAfterMs?: number;
}

/** Prompt directives that let end-to-end tests steer one task. */
export function parseDirectives(prompt: string): Directives {
  const fail = /\[sim:fail=([^\]]*)\]/.exec(prompt);
  const images = /\[sim:images=(\d+)\]/.exec(prompt);
  const duration = /\[sim:duration=(\d+)\]/.exec(prompt);
  const directives: Directives = {
    lose: prompt.includes("[sim:lose]"),
    expire: prompt.includes("[sim:expire]"),
  };
  if (fail) directives.failReason = fail[1] || "failed";
  if (images) directives.images = Number(images[1]);
  if (duration) directives.durationMs = Number(duration[1]);
  const profile = /\[sim:progress=([a-z]+)\]/.exec(prompt)?.[1];
  if (profile !== undefined && isProgressProfile(profile)) directives.profile = profile;
  const failAfter = /\[sim:fail_after=(\d+)\]/.exec(prompt);
  if (failAfter) directives.failAfterMs = Number(failAfter[1]);
  return directives;
}

export type Spelling = "upper" | "mixed";

type State = "NOT_START" | "SUBMITTED" | "QUEUED" | "IN_PROGRESS" | "SUCCESS" | "FAILURE";

// "mixed" spells states the way sloppier services of the family do, so tolerant
// clients (case-insensitive comparison) can be tested.
const mixedSpelling: Record<State, string> = {
  NOT_START: "not_start",
  SUBMITTED: "Submitted",
  QUEUED: "queued",
  IN_PROGRESS: "in_progress",
  SUCCESS: "Success",
  FAILURE: "failure",
};

export interface TaskView {
  status: string;
  /** "NN%", or undefined when this spelling omits it. */
  progress: string | undefined;
  done: boolean;
  failed: boolean;
}

export function viewTask(task: SimTask, now: number, spelling: Spelling): TaskView {
  // A fake clock may be set before the submit time: treat that as "just submitted".
  const elapsed = Math.max(0, now - task.info.submittedAt);
  const spell = (state: State) => (spelling === "mixed" ? mixedSpelling[state] : state);
  const failed = task.failReason !== undefined;
  // A task may fail before the time its progress was heading for (a content
  // check part-way through): the reads give no warning.
  const endsAt = failed ? (task.failAfterMs ?? task.durationMs) : task.durationMs;
  // A failed task's progress stays where it was when it failed.
  const at = Math.min(elapsed, endsAt);
  const progress = task.omitProgress
    ? undefined
    : progressAt(task.profile, at / (task.durationMs || 1));
  if (elapsed >= endsAt) {
    return {
      status: spell(failed ? "FAILURE" : "SUCCESS"),
      progress:
        progress === undefined ? undefined : at < task.durationMs ? percent(progress) : "100%",
      done: true,
      failed,
    };
  }
  // The first tenth is spent waiting for a worker (NOT_START → SUBMITTED →
  // QUEUED); then IN_PROGRESS until the finish.
  const fraction = elapsed / task.durationMs;
  const state: State =
    fraction < 0.03
      ? "NOT_START"
      : fraction < 0.06
        ? "SUBMITTED"
        : fraction < 0.1
          ? "QUEUED"
          : "IN_PROGRESS";
  return {
    status: spell(state),
    progress: progress === undefined ? undefined : percent(progress),
    done: false,
    failed: false,
  };
}

/** "NN%" in whole percent rounded down, never 100 % before the finish. */
function percent(fraction: number): string {
  return `${Math.min(99, Math.floor(fraction * 100 + 1e-9))}%`;
}

/** The upstream's task read answer: `{code, message, data}` around the task. */
export function readAnswer(task: SimTask, now: number, spelling: Spelling, base: string) {
  const view = viewTask(task, now, spelling);
  const { taskId } = task.info;
  const data: Record<string, unknown> = { task_id: taskId, status: view.status };
  if (view.progress !== undefined) data.progress = view.progress;
  if (view.failed) {
    data.fail_reason = task.failReason;
  } else if (view.done) {
    const urls = Array.from({ length: task.images }, (_, index) => ({
      url: `${base}/v1/images/tasks/${taskId}/content?index=${index}`,
    }));
    data.result_url = urls[0]?.url ?? "";
    data.data = { data: urls };
    // Services of the family sometimes leave the result URL in fail_reason on
    // success; it is no error. Only the tolerance-testing spelling does it.
    if (spelling === "mixed") data.fail_reason = urls[0]?.url ?? "";
  }
  return { code: "success", message: "", data };
}

/** Typical latencies from UPSTREAM.md "Timing", with some spread. */
export function realisticDurationMs(task: SimTaskInfo): number {
  const spread = (low: number, high: number) => low + Math.random() * (high - low);
  const quality = (task.quality ?? "").toLowerCase();
  const size = task.size ?? "";
  const imageSize = String(
    ((task.body.extra_body as { google?: { image_config?: { image_size?: string } } } | undefined)
      ?.google?.image_config?.image_size ??
      quality) ||
      "1K",
  ).toUpperCase();
  switch (task.model) {
    case "gemini-3.1-flash-image-preview":
      return imageSize === "4K"
        ? spread(30_000, 60_000)
        : imageSize === "2K"
          ? spread(8_000, 20_000)
          : spread(4_000, 15_000);
    case "gemini-3-pro-image-preview":
      return imageSize === "4K" ? spread(15_000, 22_000) : spread(10_000, 18_000);
    case "gpt-image-2": {
      const base =
        quality === "low"
          ? spread(10_000, 20_000)
          : quality === "high"
            ? spread(60_000, 120_000)
            : spread(25_000, 50_000);
      return size.includes("3840") || size.includes("2160") ? base * 3 : base;
    }
    default:
      return spread(5_000, 11_000);
  }
}
