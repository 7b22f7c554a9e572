// One scheduler for every in-flight upstream task: a min-heap of "read this task
// at time t" and a single timer armed for the earliest entry, instead of a
// sleep loop per request. Reads run with bounded concurrency; transient errors
// back off; a task the upstream keeps denying is "lost"; every wait has a
// deadline, so nothing hangs.
import type { Clock, TimerHandle } from "../clock.js";
import type { UpstreamClient } from "../providers/async/client.js";
import type { TaskSnapshot } from "../providers/async/status.js";
import { UpstreamError } from "../providers/failures.js";
import type { LatencyModel } from "./latency-model.js";
import {
  errorBackoffMs,
  type LatencyPrior,
  maxProgressReads,
  nextReadDelayMs,
  type ProgressRead,
  type ScheduleTuning,
} from "./schedule.js";

export type WaitFailure = "lost" | "deadline" | "unavailable" | "closed";

/** Why a wait ended without a final task state. */
export class TaskWaitError extends Error {
  constructor(
    readonly reason: WaitFailure,
    readonly taskId: string,
    message: string,
    readonly lastError?: unknown,
  ) {
    super(message);
    this.name = "TaskWaitError";
  }
}

export interface WatchRequest {
  credential: string;
  /** The client of the channel that accepted the task; default the poller's own. */
  reader?: Pick<UpstreamClient, "read"> | undefined;
  taskId: string;
  /** When the submit was accepted (clock ms). */
  submittedAt: number;
  /** The upstream model, whose learned latency shapes the schedule. */
  model: string;
  /** The catalogue's expectation for this model and these parameters. */
  expectedMs: number;
  /** Give up at this clock time. */
  deadline: number;
  /** Called with each progress (0..1) the upstream reports. */
  onProgress?: (progress: number) => void;
  /**
   * Called as each read goes out (a trace span per read); what it returns is
   * told how the read ended: the snapshot, or the error. Absent: nothing is
   * done per read.
   */
  onReadStart?: (() => (snapshot: TaskSnapshot | undefined, err?: unknown) => void) | undefined;
  /**
   * Told when the task finished upstream (clock ms), as estimated from the
   * reads around it: the middle between the last read that saw it unfinished
   * (the accepted submit, before any read) and the first that saw it final.
   */
  onEnded?: ((endedAt: number) => void) | undefined;
  /**
   * The task was submitted before this watch began (resumed after a restart,
   * or taken over from another replica): until a read sees it unfinished,
   * when it ended is unknown, and nothing is told or learned of it.
   */
  resumed?: boolean | undefined;
}

export interface Poller {
  /** Resolves with the final snapshot (succeeded or failed). */
  watch(request: WatchRequest): Promise<TaskSnapshot>;
  /** Tasks being watched right now. */
  readonly size: number;
  /** Stops every wait with reason "closed". */
  close(): void;
}

export interface PollerOptions {
  /** Reads for watches that name no client of their own (each channel's does). */
  client?: Pick<UpstreamClient, "read"> | undefined;
  clock: Clock;
  /** Reads in flight at once, across all tasks. */
  maxConcurrentReads?: number;
  /** Confirmations of task_not_exist before a task counts as lost. */
  lostAfter?: number;
  /** The wait before confirming a task_not_exist, times the confirmations so far (default 1 s). */
  notFoundDelayMs?: number;
  /** The backoff after a failed read (tests shorten it); default the schedule's errorBackoffMs. */
  errorBackoffMs?: (consecutiveErrors: number, retryAfterMs: number | undefined) => number;
  /** A task without one successful read for this long is given up. */
  errorWindowMs?: number;
  /** Learned latencies: read for each new watch, taught by each success. */
  latency?: LatencyModel;
  /** The schedule's constants (tests may make it denser). */
  tuning?: ScheduleTuning;
  onRead?: (taskId: string, snapshot: TaskSnapshot) => void;
}

interface Entry {
  request: WatchRequest;
  resolve: (snapshot: TaskSnapshot) => void;
  reject: (err: TaskWaitError) => void;
  due: number;
  prior: LatencyPrior;
  /** Recent reads that reported progress, oldest first. */
  reads: ProgressRead[];
  /** Clock time of the last successful read. */
  lastReadAt: number;
  /** Whether lastReadAt saw the task unfinished (a fresh submit counts as such a sighting). */
  seenUnfinished: boolean;
  consecutiveErrors: number;
  notFound: number;
  lastSuccessAt: number;
  lastError: unknown;
  done: boolean;
}

/** A binary min-heap of entries by `due`. */
class DueHeap {
  private readonly items: Entry[] = [];

  get length(): number {
    return this.items.length;
  }

  peek(): Entry | undefined {
    return this.items[0];
  }

  push(entry: Entry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((items[parent] as Entry).due <= entry.due) break;
      items[i] = items[parent] as Entry;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): Entry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && (items[right] as Entry).due < (items[left] as Entry).due
          ? right
          : left;
      if ((items[child] as Entry).due >= last.due) break;
      items[i] = items[child] as Entry;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

export function createPoller(options: PollerOptions): Poller {
  const { client, clock } = options;
  const maxConcurrentReads = options.maxConcurrentReads ?? 64;
  const lostAfter = options.lostAfter ?? 3;
  const errorWindowMs = options.errorWindowMs ?? 120_000;
  const notFoundDelayMs = options.notFoundDelayMs ?? 1_000;
  const backoffMs = options.errorBackoffMs ?? errorBackoffMs;

  const heap = new DueHeap();
  // Due entries waiting for a read slot: an array with a moving head, since
  // shift() is O(n) when thousands fall due together.
  let ready: Entry[] = [];
  let readyHead = 0;
  const live = new Set<Entry>();
  let active = 0;
  let timer: TimerHandle | undefined;
  let timerDue = Number.POSITIVE_INFINITY;
  let closed = false;

  function settle(entry: Entry, outcome: TaskSnapshot | TaskWaitError): void {
    if (entry.done) return;
    entry.done = true;
    live.delete(entry);
    if (outcome instanceof TaskWaitError) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  function schedule(entry: Entry, delayMs: number): void {
    // Never sleep past the deadline: wake for it and give up there.
    entry.due = Math.min(clock.now() + delayMs, entry.request.deadline);
    heap.push(entry);
    arm();
  }

  function arm(): void {
    const next = heap.peek();
    if (!next || closed) return;
    if (timer !== undefined && next.due >= timerDue) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    timerDue = next.due;
    timer = clock.setTimeout(tick, Math.max(0, next.due - clock.now()));
    timer.unref?.();
  }

  function tick(): void {
    timer = undefined;
    timerDue = Number.POSITIVE_INFINITY;
    const now = clock.now();
    for (let top = heap.peek(); top !== undefined && top.due <= now; top = heap.peek()) {
      heap.pop();
      if (top.done) continue;
      if (now >= top.request.deadline) {
        settle(
          top,
          new TaskWaitError(
            "deadline",
            top.request.taskId,
            `upstream task ${top.request.taskId} did not finish in time`,
            top.lastError,
          ),
        );
        continue;
      }
      ready.push(top);
    }
    pump();
    arm();
  }

  function pump(): void {
    while (active < maxConcurrentReads && readyHead < ready.length) {
      const entry = ready[readyHead++] as Entry;
      if (entry.done) continue;
      active++;
      void read(entry).finally(() => {
        active--;
        pump();
      });
    }
    if (readyHead === ready.length) {
      ready = [];
      readyHead = 0;
    }
  }

  async function read(entry: Entry): Promise<void> {
    const { request } = entry;
    const readEnded = request.onReadStart?.();
    let snapshot: TaskSnapshot;
    try {
      snapshot = await (request.reader ?? (client as Pick<UpstreamClient, "read">)).read(
        request.credential,
        request.taskId,
      );
    } catch (err) {
      readEnded?.(undefined, err);
      if (entry.done || closed) return;
      onReadError(entry, err);
      return;
    }
    readEnded?.(snapshot);
    if (entry.done || closed) return;
    entry.consecutiveErrors = 0;
    entry.notFound = 0;
    entry.lastSuccessAt = clock.now();
    options.onRead?.(request.taskId, snapshot);
    if (snapshot.state !== "pending") {
      // The task ended between the last two reads: the middle is its time
      // (unknown when no read saw it unfinished since a restart).
      if (entry.seenUnfinished) {
        const endedAt = (entry.lastReadAt + clock.now()) / 2;
        if (snapshot.state === "succeeded") {
          options.latency?.observe(
            request.model,
            request.expectedMs,
            endedAt - request.submittedAt,
          );
        }
        request.onEnded?.(endedAt);
      }
      settle(entry, snapshot);
      return;
    }
    const now = clock.now();
    const elapsedMs = now - request.submittedAt;
    if (snapshot.progress !== undefined) {
      request.onProgress?.(snapshot.progress);
      entry.reads.push({ atMs: elapsedMs, progress: snapshot.progress });
      if (entry.reads.length > maxProgressReads) entry.reads.shift();
    }
    entry.lastReadAt = now;
    entry.seenUnfinished = true;
    schedule(
      entry,
      nextReadDelayMs({ elapsedMs, prior: entry.prior, reads: entry.reads }, options.tuning),
    );
  }

  function onReadError(entry: Entry, err: unknown): void {
    const { taskId } = entry.request;
    entry.lastError = err;
    const upstream = err instanceof UpstreamError ? err : undefined;
    if (upstream?.kind === "task_not_exist") {
      // Right after a submit some services need a moment before a read finds
      // the task: confirm a few times before calling it lost.
      entry.notFound++;
      if (entry.notFound >= lostAfter) {
        settle(
          entry,
          new TaskWaitError("lost", taskId, `the upstream has lost task ${taskId}`, err),
        );
        return;
      }
      schedule(entry, notFoundDelayMs * entry.notFound);
      return;
    }
    entry.consecutiveErrors++;
    if (clock.now() - entry.lastSuccessAt >= errorWindowMs) {
      settle(
        entry,
        new TaskWaitError(
          "unavailable",
          taskId,
          `the upstream could not be read for task ${taskId}: ${upstream?.message ?? "error"}`,
          err,
        ),
      );
      return;
    }
    schedule(entry, backoffMs(entry.consecutiveErrors, upstream?.retryAfterMs));
  }

  return {
    watch(request) {
      if (request.reader === undefined && client === undefined) {
        return Promise.reject(new Error("a watch needs a client to read with"));
      }
      if (closed) {
        return Promise.reject(
          new TaskWaitError("closed", request.taskId, "the gateway is shutting down"),
        );
      }
      return new Promise<TaskSnapshot>((resolve, reject) => {
        const entry: Entry = {
          request,
          resolve,
          reject,
          due: 0,
          prior: options.latency?.prior(request.model, request.expectedMs) ?? {
            lowMs: request.expectedMs / 2,
            highMs: request.expectedMs * 2,
          },
          reads: [],
          lastReadAt: request.submittedAt,
          seenUnfinished: request.resumed !== true,
          consecutiveErrors: 0,
          notFound: 0,
          lastSuccessAt: clock.now(),
          lastError: undefined,
          done: false,
        };
        if (clock.now() >= request.deadline) {
          reject(
            new TaskWaitError(
              "deadline",
              request.taskId,
              `upstream task ${request.taskId} did not finish in time`,
            ),
          );
          return;
        }
        live.add(entry);
        // The first read goes out at once, not through a timer (even a 0 ms
        // timer costs a millisecond): a fast upstream is noticed immediately.
        entry.due = clock.now();
        ready.push(entry);
        pump();
      });
    },
    get size() {
      return live.size;
    },
    close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      ready = [];
      readyHead = 0;
      while (heap.pop() !== undefined) {}
      // Includes entries whose read is in flight right now.
      for (const entry of [...live]) {
        settle(
          entry,
          new TaskWaitError("closed", entry.request.taskId, "the gateway is shutting down"),
        );
      }
    },
  };
}
