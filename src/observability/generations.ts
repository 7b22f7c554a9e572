// Generations as the metrics see them: each one started or resumed by this
// process counted once when it ends, by upstream model and outcome, and the
// time a started one took from its start to its images (the upstream's time,
// with the gateway's few milliseconds). The service is wrapped, not changed.
import { GatewayError } from "../errors.js";
import type { GenerationService, RunningGeneration } from "../generation/generate.js";

export interface GenerationCounter {
  /** `seconds` when the whole generation ran here (not for one resumed after a restart). */
  ended(model: string, outcome: string, seconds: number | undefined): void;
}

/** `succeeded`; `failed` for an answer about the request or the task (4xx); `error` otherwise. */
function outcomeOf(err: unknown): string {
  return err instanceof GatewayError && err.status < 500 ? "failed" : "error";
}

export function countedGenerations(
  service: GenerationService,
  counter: GenerationCounter,
  now: () => number,
): GenerationService {
  const watch = (running: RunningGeneration, model: string, startedAt: number | undefined) => {
    running.done.then(
      () =>
        counter.ended(
          model,
          "succeeded",
          startedAt === undefined ? undefined : (now() - startedAt) / 1000,
        ),
      (err: unknown) => counter.ended(model, outcomeOf(err), undefined),
    );
    return running;
  };
  return {
    ...service,
    start: (command) => watch(service.start(command), command.translation.model.spec.id, now()),
    resume: (command) =>
      watch(service.resume(command), command.names?.upstream ?? "unknown", undefined),
  };
}
