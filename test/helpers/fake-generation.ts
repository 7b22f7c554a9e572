// An in-memory GenerationService for unit tests of the use case around it
// (generation/admission.ts): every start() is one upstream submit, counted,
// and its task moves only when the test says so (accepted, succeeded, failed,
// refused), writing the generation record as the real service does. Also a
// manual clock whose timers fire only when the test moves time.

import { translateRequest } from "../../src/catalog/translate.js";
import type { Channel } from "../../src/channels/channel.js";
import type { Clock, TimerHandle } from "../../src/clock.js";
import type { GatewayError } from "../../src/errors.js";
import {
  failureInfo,
  type GeneratedImages,
  type GenerationService,
  type OwnAccount,
  type RunningGeneration,
  type StartCommand,
} from "../../src/generation/generate.js";
import type { GenerationRecords, StoredResult } from "../../src/generation/record.js";

/** The one channel every task goes to. */
export const fakeChannel: Channel = {
  id: "ch_fake",
  name: "fake upstream",
  provider: "async",
  baseUrl: "http://upstream.invalid",
  models: [],
  priority: 0,
  weight: 1,
  maxConcurrent: null,
  enabled: true,
  source: "environment",
  createdAt: 0,
  credential: "sk-fake-upstream",
};

/** One start(): one submit to the upstream, driven by the test. */
export interface FakeTask {
  readonly command: StartCommand;
  readonly generation: RunningGeneration;
  /** The upstream accepted the task: its id is recorded, then `submitted` resolves. */
  accept(taskId?: string): Promise<void>;
  /** The results are stored: recorded as succeeded, then `done` resolves (accepts first if needed). */
  succeed(results?: StoredResult[]): Promise<GeneratedImages>;
  /** The upstream ran the task and it failed: recorded as failed, then `done` rejects. */
  fail(error: GatewayError): Promise<void>;
  /** The submit was definitely refused (no task, no charge): recorded as refused, both reject. */
  refuse(error: GatewayError): Promise<void>;
}

export interface FakeGenerationService extends GenerationService {
  /** Every start() so far, in order: one upstream submit each. */
  readonly starts: readonly FakeTask[];
  /** What channelsFor was asked. */
  readonly channelRequests: ReadonlyArray<{
    upstreamModel: string;
    callerModel: string;
    own: OwnAccount | undefined;
  }>;
}

/** One event-loop turn: deferred record writes are committed, promise callbacks have run. */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function fakeGenerationService(
  ledger: GenerationRecords,
  clock: Clock,
): FakeGenerationService {
  const starts: FakeTask[] = [];
  const channelRequests: Array<{
    upstreamModel: string;
    callerModel: string;
    own: OwnAccount | undefined;
  }> = [];
  const live = new Map<string, RunningGeneration>();

  function start(command: StartCommand): RunningGeneration {
    const { recordId } = command;
    let resolveSubmitted!: (taskId: string) => void;
    let rejectSubmitted!: (err: unknown) => void;
    let resolveDone!: (images: GeneratedImages) => void;
    let rejectDone!: (err: unknown) => void;
    const submitted = new Promise<string>((resolve, reject) => {
      resolveSubmitted = resolve;
      rejectSubmitted = reject;
    });
    const done = new Promise<GeneratedImages>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    // As the real service: nobody may be waiting any more.
    submitted.catch(() => {});
    done.catch(() => {});
    const generation: {
      recordId: string;
      upstreamTaskId?: string | undefined;
      channelId?: string | undefined;
      submitted: Promise<string>;
      done: Promise<GeneratedImages>;
    } = { recordId, submitted, done };
    live.set(recordId, generation);

    const task: FakeTask = {
      command,
      generation,
      async accept(taskId = `task_${starts.indexOf(task) + 1}`) {
        // Nothing goes upstream before its reservation is on disk.
        await ledger.reserved(recordId);
        await ledger.submitted(recordId, taskId, fakeChannel.id);
        generation.upstreamTaskId = taskId;
        generation.channelId = fakeChannel.id;
        resolveSubmitted(taskId);
        await nextTurn();
      },
      async succeed(results = [{ id: `${recordId}_0.png`, contentType: "image/png", size: 68 }]) {
        if (generation.upstreamTaskId === undefined) await task.accept();
        const upstreamTaskId = generation.upstreamTaskId as string;
        ledger.finished(recordId, {
          state: "succeeded",
          images: results.length,
          results,
          upstreamTaskId,
        });
        live.delete(recordId);
        const images: GeneratedImages = {
          recordId,
          created: Math.floor(clock.now() / 1000),
          images: results.map((result) => ({ ...result, written: Promise.resolve() })),
          echo: command.translation.echo,
          upstreamTaskId,
        };
        resolveDone(images);
        await nextTurn();
        return images;
      },
      async fail(error) {
        if (generation.upstreamTaskId === undefined) await task.accept();
        ledger.finished(recordId, {
          state: "failed",
          errorCode: error.code ?? "error",
          error: failureInfo(error),
          upstreamTaskId: generation.upstreamTaskId,
        });
        live.delete(recordId);
        rejectDone(error);
        await nextTurn();
      },
      async refuse(error) {
        await ledger.reserved(recordId);
        ledger.finished(recordId, {
          state: "refused",
          errorCode: error.code ?? "error",
          error: failureInfo(error),
        });
        live.delete(recordId);
        rejectSubmitted(error);
        rejectDone(error);
        await nextTurn();
      },
    };
    starts.push(task);
    return generation;
  }

  return {
    starts,
    channelRequests,
    translate: (request, options) => translateRequest(request, options),
    async channelsFor(upstreamModel, callerModel, own) {
      channelRequests.push({ upstreamModel, callerModel, own });
      return [fakeChannel];
    },
    start,
    resume() {
      throw new Error("resume is not part of admission");
    },
    running: (recordId) => live.get(recordId),
    inFlight: () => live.size,
    progress: () => undefined,
    close() {},
    settled: async () => {},
  };
}

export interface ManualClock extends Clock {
  /** Moves time forward, firing the timers that come due, in order. */
  advance(ms: number): void;
  /** Timers set and not yet fired or cleared. */
  pendingTimers(): number;
}

/** A clock that moves only when told to; its timers fire from advance(). */
export function manualClock(start: number): ManualClock {
  let now = start;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const timer = { at: now + Math.max(0, ms), fn };
      timers.add(timer);
      return timer as TimerHandle;
    },
    clearTimeout(handle) {
      timers.delete(handle as { at: number; fn: () => void });
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        timers.delete(due);
        now = Math.max(now, due.at);
        due.fn();
      }
      now = until;
    },
    pendingTimers: () => timers.size,
  };
}
