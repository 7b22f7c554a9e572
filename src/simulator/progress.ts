// How a simulated task reports progress on its way to the finish. Real
// services of the family differ: most climb roughly linearly, some sit in a
// queue first, stall half-way, move in coarse steps, or report nothing. The
// schedule is benchmarked and tested against all of them.

export const progressProfiles = ["linear", "queued", "stall", "steps", "curve", "none"] as const;
export type ProgressProfile = (typeof progressProfiles)[number];

/**
 * The true fraction done (0..1) at `fraction` of the task's time, or
 * undefined when this profile reports no progress.
 */
export function progressAt(profile: ProgressProfile, fraction: number): number | undefined {
  const f = Math.min(1, Math.max(0, fraction));
  switch (profile) {
    case "linear":
      return f;
    case "queued":
      // 30 % of the time waiting for a worker at 0 %, then a linear climb.
      return f < 0.3 ? 0 : (f - 0.3) / 0.7;
    case "stall":
      // Half-way by 30 % of the time, stuck there until 70 %, then the rest.
      return f < 0.3 ? (f / 0.3) * 0.5 : f < 0.7 ? 0.5 : 0.5 + ((f - 0.7) / 0.3) * 0.5;
    case "steps":
      // Coarse jumps: 0, 25, 50, 75 %.
      return Math.floor(f * 4) / 4;
    case "curve":
      // Fast at first, slow at the end.
      return 1 - (1 - f) ** 2;
    case "none":
      return undefined;
  }
}

export function isProgressProfile(value: string): value is ProgressProfile {
  return (progressProfiles as readonly string[]).includes(value);
}
