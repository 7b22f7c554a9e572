// How the console writes times, durations and limits.

const pad = (value: number) => String(value).padStart(2, "0");

/** Unix seconds → local "2026-05-04 13:07:09". */
export function dateTime(seconds: number | null): string {
  if (seconds === null) return "—";
  const date = new Date(seconds * 1000);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock(date)}`;
}

/** A Date → local "13:07:09". */
export function clock(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Milliseconds → "850 ms", "12.3 s", "4 min 05 s". */
export function duration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${pad(Math.floor((seconds % 3600) / 60))} min`;
}

/** A limit, where null means none. */
export function limit(value: number | null): string {
  return value === null ? "no limit" : value.toLocaleString("en");
}

export function count(value: number): string {
  return value.toLocaleString("en");
}

/** A UTC day, "YYYY-MM-DD", `daysAgo` days before today. */
export function utcDay(daysAgo = 0): string {
  return new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
}

/** Every UTC day from `from` to `to`, both included (at most `max`). */
export function daysBetween(from: string, to: string, max = 400): string[] {
  const days: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= end && days.length < max; at += 86_400_000) {
    days.push(new Date(at).toISOString().slice(0, 10));
  }
  return days;
}
