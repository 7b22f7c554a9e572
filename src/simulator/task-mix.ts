// The mix of tasks the schedule is held to (DESIGN.md, "Result lag"): 1 s to
// 2 min, spread evenly on a log scale over every model family, with every
// progress profile and quick failures. Seeded, so a bench run and the unit
// test that replays it see the same tasks.
import type { ProgressProfile } from "./progress.js";

export interface MixTask {
  /** A public model name the gateway takes. */
  model: string;
  /** When the result is ready (or, for a failure, where progress was heading). */
  durationMs: number;
  profile: ProgressProfile;
  /** Set for a task that fails: when it does. */
  failAfterMs?: number;
}

/** Mulberry32: small, fast, good enough to spread a benchmark's tasks. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const models = ["gpt-image-2", "nano-banana", "nano-banana-pro", "grok-imagine-image"];
/** Most services report linear progress; the rest are the awkward cases. */
const profiles: readonly [ProgressProfile, number][] = [
  ["linear", 0.5],
  ["queued", 0.1],
  ["stall", 0.1],
  ["steps", 0.1],
  ["curve", 0.05],
  ["none", 0.15],
];

function pick(random: () => number): ProgressProfile {
  let roll = random();
  for (const [profile, weight] of profiles) {
    roll -= weight;
    if (roll < 0) return profile;
  }
  return "linear";
}

/**
 * `count` tasks of 1 s to 2 min (log-uniform) plus `failures` that fail 1–2 s
 * after their submit while their progress heads for a longer finish.
 */
export function taskMix(count = 150, failures = 20, seed = 12): MixTask[] {
  const random = seededRandom(seed);
  const tasks: MixTask[] = [];
  for (let i = 0; i < count; i++) {
    tasks.push({
      model: models[i % models.length] as string,
      durationMs: Math.round(1_000 * 120 ** random()),
      profile: pick(random),
    });
  }
  for (let i = 0; i < failures; i++) {
    tasks.push({
      model: models[i % models.length] as string,
      durationMs: Math.round(5_000 + random() * 55_000),
      profile: random() < 0.8 ? "linear" : "none",
      failAfterMs: Math.round(1_000 + random() * 1_000),
    });
  }
  return tasks;
}

/** The duration bands the bench reports lag in. */
export const durationBands = [
  { label: "1–3 s", lowMs: 0, highMs: 3_000 },
  { label: "3–10 s", lowMs: 3_000, highMs: 10_000 },
  { label: "10–30 s", lowMs: 10_000, highMs: 30_000 },
  { label: "30–60 s", lowMs: 30_000, highMs: 60_000 },
  { label: "1–2 min", lowMs: 60_000, highMs: Number.POSITIVE_INFINITY },
] as const;
