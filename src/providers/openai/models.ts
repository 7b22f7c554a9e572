// What an OpenAI-compatible synchronous channel serves when the operator lists
// no models: OpenAI's own image model among the upstream ids of the catalogue.
// A channel in front of another OpenAI-compatible server (Azure OpenAI, a
// LiteLLM or new-api proxy) lists the upstream ids it serves instead.
export const openaiDefaultModels: readonly string[] = ["gpt-image-2"];

/** Longest wait for a synchronous call's answer: OpenAI's own SDK waits 10 minutes. */
export const openaiCallTimeoutMs = 10 * 60_000;

/**
 * A synchronous call has no upstream task id: the gateway gives it one, so
 * that its record reads as submitted (and paid for) while the call runs.
 */
export const syncTaskIdKind = "sync";

export function isSyncTaskId(taskId: string): boolean {
  return taskId.startsWith(`${syncTaskIdKind}_`);
}
