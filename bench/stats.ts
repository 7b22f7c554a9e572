// Small numeric and formatting helpers shared by the bench scenarios.
import { performance } from "node:perf_hooks";

/** The nearest-rank percentile (p in 0..100); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

export const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);

/**
 * Wall-clock milliseconds with sub-millisecond resolution. The simulator is
 * given this as its clock, so that a task's end (submittedAt + duration) and
 * the moment an answer arrives are read off the same fine clock.
 */
export const wallNow = () => performance.timeOrigin + performance.now();

export const ms = (value: number, digits = 2) => `${value.toFixed(digits)} ms`;
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;
export const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

/** Counts outcomes by reason ("HTTP 502 upstream_error", "ECONNRESET", ...). */
/** "HTTP 503 server_busy": an error answer's status and its OpenAI error code, if any. */
export function answerFailure(status: number, text: string): string {
  let code = "";
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "";
  } catch {}
  return `HTTP ${status}${code ? ` ${code}` : ""}`;
}

export function tally(failures: Map<string, number>, reason: string): void {
  failures.set(reason, (failures.get(reason) ?? 0) + 1);
}

export const tallyTotal = (failures: Map<string, number>) => sum([...failures.values()]);

export const describeTally = (failures: Map<string, number>) =>
  failures.size === 0 ? "" : ` (${[...failures].map(([k, v]) => `${k} ×${v}`).join(", ")})`;

/** Why a request did not end in a good answer, for an error tally. */
export function failureOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : String((err as Error | null)?.message ?? err);
}

/** A fixed-width text table for the per-scenario prints. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ");
  return [line(header), ...rows.map(line)].map((l) => `  ${l.trimEnd()}`).join("\n");
}

export const median = (values: readonly number[]) => percentile(values, 50);
