// Result lag over the task mix: how long after a task's end the caller has
// its answer, through the gateway and through a fixed 2 s poller, next to
// what the timer-free model of the schedule (src/simulator/replay.ts)
// predicts, and the physical limit (0: answered the instant the task ends).
// Budgets (DESIGN.md): P50 ≤ 10 % and P90 ≤ 25 % of the task's own time with a
// 150 ms floor, overall and per duration band; failures within 500 ms + 25 %
// of their time; ≤ 1 read per 2 s of generation.
import { translateRequest } from "../src/catalog/translate.js";
import { systemClock } from "../src/clock.js";
import { replaySchedule } from "../src/simulator/replay.js";
import { durationBands, type MixTask, taskMix } from "../src/simulator/task-mix.js";
import { createLatencyModel } from "../src/upstream/latency-model.js";
import { type MixRun, type Outcome, runMix } from "./lag-mix.js";
import { type Figure, skipped } from "./report.js";
import { ms, percentile, seconds, sum, tally, textTable } from "./stats.js";

const floorMs = 150;
const p50Share = 0.1;
const p90Share = 0.25;
const readsBudget = 1;
const failureBaseMs = 500;
const failureShare = 0.25;

/**
 * Lag as a share of the task's own time, with the 150 ms floor: a lag within
 * max(share × time, 150 ms) is within budget, so the time is taken as at least
 * 150 ms / share (1.5 s for the P50 budget, 0.6 s for P90).
 */
const shareOf = (lagMs: number, ownMs: number, share: number) =>
  lagMs / Math.max(ownMs, floorMs / share);

interface Row {
  task: MixTask;
  own: number;
  gateway: Outcome;
  poller: Outcome;
  modelLag: number;
  modelReads: number;
}

interface Stats {
  n: number;
  p50: number;
  p90: number;
  /** P50 of lag / max(time, 1.5 s) and P90 of lag / max(time, 0.6 s). */
  p50Share: number;
  p90Share: number;
}

function stats(rows: readonly Row[], lag: (row: Row) => number): Stats {
  const valid = rows.filter((row) => Number.isFinite(lag(row)));
  return {
    n: valid.length,
    p50: percentile(valid.map(lag), 50),
    p90: percentile(valid.map(lag), 90),
    p50Share: percentile(
      valid.map((row) => shareOf(lag(row), row.own, p50Share)),
      50,
    ),
    p90Share: percentile(
      valid.map((row) => shareOf(lag(row), row.own, p90Share)),
      90,
    ),
  };
}

const withinBudget = (s: Stats) => s.p50Share <= p50Share && s.p90Share <= p90Share;
const share = (value: number) => `${(value * 100).toFixed(1)}%`;
const whole = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : "–");

/** The model's figures: the schedule replayed with the prior the gateway starts with. */
function modelReplay(task: MixTask): { lagMs: number; reads: number } {
  const translation = translateRequest({ model: task.model, prompt: "bench" });
  const latency = createLatencyModel({ clock: systemClock });
  const prior = latency.prior(translation.model.spec.id, translation.expectedMs);
  const replayed = replaySchedule(task, prior);
  return { lagMs: replayed.lagMs, reads: replayed.reads };
}

function rowsOf(run: MixRun): Row[] {
  return run.tasks.map((task, i) => {
    const model = modelReplay(task);
    return {
      task,
      own: task.failAfterMs ?? task.durationMs,
      gateway: run.gateway[i] as Outcome,
      poller: run.poller[i] as Outcome,
      modelLag: model.lagMs,
      modelReads: model.reads,
    };
  });
}

function bandTable(successes: readonly Row[]): {
  table: string;
  missed: string[];
  slower: string[];
} {
  const missed: string[] = [];
  const slower: string[] = [];
  const line = (label: string, rows: readonly Row[]) => {
    const gw = stats(rows, (row) => (row.gateway.right ? row.gateway.lagMs : Number.NaN));
    const fixed = stats(rows, (row) => (row.poller.right ? row.poller.lagMs : Number.NaN));
    const model = stats(rows, (row) => row.modelLag);
    const met = withinBudget(gw);
    if (!met && label !== "all") {
      const parts = [
        gw.p50Share > p50Share ? `P50 ${share(gw.p50Share)}` : "",
        gw.p90Share > p90Share ? `P90 ${share(gw.p90Share)}` : "",
      ].filter(Boolean);
      missed.push(`${label} ${parts.join(", ")}`);
    }
    if (label !== "all" && (gw.p50 >= fixed.p50 || gw.p90 >= fixed.p90)) slower.push(label);
    return [
      label,
      String(rows.length),
      whole(gw.p50),
      whole(gw.p90),
      share(gw.p50Share),
      share(gw.p90Share),
      met ? "met" : "MISSED",
      whole(fixed.p50),
      whole(fixed.p90),
      share(fixed.p50Share),
      share(fixed.p90Share),
      whole(model.p50),
      whole(model.p90),
      "0",
    ];
  };
  const lines = durationBands.map((band) =>
    line(
      band.label,
      successes.filter(
        (row) => row.task.durationMs >= band.lowMs && row.task.durationMs < band.highMs,
      ),
    ),
  );
  lines.push(line("all", successes));
  const header = [
    "band",
    "n",
    "gw P50",
    "gw P90",
    "gw P50%",
    "gw P90%",
    "budget",
    "2s P50",
    "2s P90",
    "2s P50%",
    "2s P90%",
    "model P50",
    "model P90",
    "limit",
  ];
  return { table: textTable(header, lines), missed, slower };
}

/** The tasks furthest over budget, with when the gateway read them. */
function outliers(run: MixRun, successes: readonly Row[], count = 6): string[] {
  const ranked = successes
    .filter((row) => row.gateway.right)
    .map((row) => ({ row, over: shareOf(row.gateway.lagMs, row.own, p90Share) }))
    .sort((a, b) => b.over - a.over)
    .slice(0, count);
  return ranked.map(({ row }) => {
    const reads = run.readTimes.get(row.gateway.taskId ?? "") ?? [];
    const at = reads.map((t) => (t / 1000).toFixed(2)).join(" ");
    return `  ${row.task.model} ${seconds(row.own)} ${row.task.profile}: lag ${ms(row.gateway.lagMs, 0)} (${share(row.gateway.lagMs / row.own)}; model ${ms(row.modelLag, 0)}), ${reads.length} reads at ${at} s`;
  });
}

const names = {
  p50: ["result lag P50 over the task mix", "≤ 10 % of the task's time (floor 150 ms)"],
  p90: ["result lag P90 over the task mix", "≤ 25 % of the task's time (floor 150 ms)"],
  bands: ["lag budget in every duration band", "P50 ≤ 10 %, P90 ≤ 25 % in each"],
  fixed: ["lag below a fixed 2 s poller's, every band", "lower everywhere"],
  failures: ["failures reported (after 1–2 s)", "≤ 500 ms + 25 % of their time"],
  reads: ["reads per 2 s of generation", `≤ ${readsBudget.toFixed(2)}`],
  wrong: ["wrong answers in the task mix", "0"],
} as const;

export const lagSkipped = (why: string): Figure[] =>
  Object.values(names).map(([figure, budget]) => skipped(figure, budget, why));

export async function lag(): Promise<Figure[]> {
  const seed = Number(process.env.BENCH_SEED ?? 12);
  const tasks = taskMix(150, 20, seed);
  const longest = Math.max(...tasks.map((task) => task.durationMs));
  console.log(
    `result lag: ${tasks.length} tasks (seed ${seed}) through the gateway and a fixed 2 s poller at once; about ${seconds(longest)}…`,
  );
  const run = await runMix(tasks);
  const rows = rowsOf(run);
  const successes = rows.filter((row) => row.task.failAfterMs === undefined);
  const failures = rows.filter((row) => row.task.failAfterMs !== undefined);

  const wrong = new Map<string, number>();
  const answers = new Map<string, number>();
  for (const row of rows) {
    tally(answers, row.gateway.answer);
    if (!row.gateway.right) {
      tally(
        wrong,
        `${row.task.failAfterMs === undefined ? "success" : "failure"} answered ${row.gateway.answer}`,
      );
    }
  }
  const pollerWrong = rows.filter((row) => !row.poller.right).length;
  const b = run.baselines;
  console.log(
    `  baselines (lag of a task done at once, subtracted): gateway ${[...b.gateway].map(([m, v]) => `${m} ${ms(v, 1)}`).join(", ")}; failure ${ms(b.gatewayFailure, 1)}; direct ${ms(b.direct, 1)}, failure ${ms(b.directFailure, 1)}`,
  );
  console.log(`  gateway answers: ${[...answers].map(([k, v]) => `${k} ×${v}`).join(", ")}`);
  console.log(
    "  lag in ms; % of the task's own time (floor 150 ms: time taken as ≥ 1.5 s for P50, ≥ 0.6 s for P90); model = replay of the schedule with the gateway's starting prior",
  );
  const { table, missed, slower } = bandTable(successes);
  console.log(table);

  const overall = stats(successes, (row) => (row.gateway.right ? row.gateway.lagMs : Number.NaN));
  const fixedAll = stats(successes, (row) => (row.poller.right ? row.poller.lagMs : Number.NaN));

  // Failures: each within 500 ms + 25 % of its time; the margin is what is left.
  const failed = failures.filter((row) => row.gateway.right);
  const margins = failed.map((row) => ({
    row,
    allowed: failureBaseMs + failureShare * row.own,
    margin: failureBaseMs + failureShare * row.own - row.gateway.lagMs,
  }));
  const worst = [...margins].sort((x, y) => x.margin - y.margin)[0];
  const p90Margin = percentile(
    margins.map((m) => m.margin),
    10,
  );
  const failuresMet = margins.length === failures.length && margins.every((m) => m.margin >= 0);
  const fixedFailures = failures.filter((row) => row.poller.right).map((row) => row.poller.lagMs);
  console.log(
    `  failures (${failures.length}, after 1–2 s): worst lag ${worst ? `${ms(worst.row.gateway.lagMs, 0)} of ${ms(worst.allowed, 0)} allowed` : "–"}, P90 margin ${ms(p90Margin, 0)}, P50 lag ${ms(
      percentile(
        failed.map((r) => r.gateway.lagMs),
        50,
      ),
      0,
    )}; model worst ${ms(Math.max(...failures.map((r) => r.modelLag)), 0)}; 2 s poller P50 ${ms(percentile(fixedFailures, 50), 0)}, worst ${ms(Math.max(...fixedFailures), 0)} (budget 500 ms + 25 %)`,
  );

  const generationMs = sum(rows.map((row) => row.own));
  const readsPer2s = (run.gatewayReads / generationMs) * 2_000;
  const modelReadsPer2s = (sum(rows.map((row) => row.modelReads)) / generationMs) * 2_000;
  const pollerReadsPer2s = (run.pollerReads / generationMs) * 2_000;
  console.log(
    `  reads per 2 s of generation: gateway ${readsPer2s.toFixed(2)} (${run.gatewayReads} reads over ${seconds(generationMs)} of generation), model ${modelReadsPer2s.toFixed(2)}, 2 s poller ${pollerReadsPer2s.toFixed(2)} (budget ${readsBudget.toFixed(2)})`,
  );
  const wrongCount = sum([...wrong.values()]);
  console.log(
    `  wrong answers: gateway ${wrongCount}${wrong.size ? ` (${[...wrong].map(([k, v]) => `${k} ×${v}`).join(", ")})` : ""}, 2 s poller ${pollerWrong} (budget 0)`,
  );
  console.log("  furthest over budget (lag / task time at P90 terms):");
  for (const line of outliers(run, successes)) console.log(line);

  const figure = (key: keyof typeof names, measured: string, met: boolean): Figure => ({
    figure: names[key][0],
    measured,
    budget: names[key][1],
    met,
  });
  const bandCount = durationBands.length;
  return [
    figure(
      "p50",
      `${share(overall.p50Share)} (${ms(overall.p50, 0)}; fixed 2 s poller ${share(fixedAll.p50Share)}, ${ms(fixedAll.p50, 0)}; ${successes.length} tasks)`,
      overall.p50Share <= p50Share,
    ),
    figure(
      "p90",
      `${share(overall.p90Share)} (${ms(overall.p90, 0)}; fixed 2 s poller ${share(fixedAll.p90Share)}, ${ms(fixedAll.p90, 0)})`,
      overall.p90Share <= p90Share,
    ),
    figure(
      "bands",
      missed.length === 0
        ? `all ${bandCount} bands`
        : `${bandCount - missed.length} of ${bandCount} (missed: ${missed.join("; ")})`,
      missed.length === 0,
    ),
    figure(
      "fixed",
      slower.length === 0
        ? `P50 and P90 lower in all ${bandCount} bands`
        : `not lower in ${slower.join(", ")}`,
      slower.length === 0,
    ),
    figure(
      "failures",
      worst
        ? `worst ${ms(worst.row.gateway.lagMs, 0)} of ${ms(worst.allowed, 0)} allowed; P90 margin ${ms(p90Margin, 0)} (${failures.length} failures)`
        : "none reported",
      failuresMet,
    ),
    figure(
      "reads",
      `${readsPer2s.toFixed(2)} (model ${modelReadsPer2s.toFixed(2)})`,
      readsPer2s <= readsBudget,
    ),
    figure("wrong", String(wrongCount), wrongCount === 0),
  ];
}
