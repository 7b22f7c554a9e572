// npm run bench: every figure of DESIGN.md's performance budget against a
// direct, optimal client of the same simulator in the same run. Each scenario
// prints its details, then one markdown table sums them all up (paste it into
// the README). Prints; never asserts (the machines are shared and noisy).
//
//   BENCH_ONLY=lag,overhead,throughput,memory,replicas   run only these scenarios
//   BENCH_SKIP_MEMORY=1                         leave the memory scenarios out (~4 min)
//   BENCH_SEED=12                               the task mix's seed (lag)
import { lag, lagSkipped } from "./lag.js";
import { memory, memorySkipped } from "./memory.js";
import { overhead, overheadSkipped } from "./overhead.js";
import { replicas, replicasSkipped } from "./replicas.js";
import { type Figure, summaryTable } from "./report.js";
import { throughput, throughputSkipped } from "./throughput.js";

interface Scenario {
  name: string;
  run: () => Promise<Figure[]>;
  skipped: (why: string) => Figure[];
}

// Quick ones first, so that a broken gateway shows before the two-minute mix.
const scenarios: Scenario[] = [
  { name: "overhead", run: overhead, skipped: overheadSkipped },
  { name: "throughput", run: throughput, skipped: throughputSkipped },
  { name: "lag", run: lag, skipped: lagSkipped },
  { name: "memory", run: memory, skipped: memorySkipped },
  { name: "replicas", run: replicas, skipped: replicasSkipped },
];

const only = process.env.BENCH_ONLY?.split(",")
  .map((name) => name.trim())
  .filter(Boolean);
const unknown = only?.filter((name) => !scenarios.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) {
  console.error(
    `BENCH_ONLY: no scenario ${unknown.join(", ")} (there are ${scenarios.map((s) => s.name).join(", ")})`,
  );
  process.exit(2);
}

const figures: Figure[] = [];
for (const scenario of scenarios) {
  if (only !== undefined && !only.includes(scenario.name)) {
    figures.push(...scenario.skipped("not run (BENCH_ONLY)"));
  } else if (scenario.name === "memory" && process.env.BENCH_SKIP_MEMORY === "1") {
    console.log("memory budgets skipped (BENCH_SKIP_MEMORY=1)\n");
    figures.push(...scenario.skipped("skipped (BENCH_SKIP_MEMORY=1)"));
  } else {
    const started = Date.now();
    try {
      figures.push(...(await scenario.run()));
    } catch (err) {
      // One broken scenario still leaves the others' figures.
      console.log(`${scenario.name} failed: ${(err as Error).stack ?? String(err)}`);
      figures.push(...scenario.skipped(`failed: ${(err as Error).message}`));
    }
    console.log(`  (${scenario.name}: ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  }
}

const measured = figures.filter((f) => f.met !== undefined);
const missed = measured.filter((f) => !f.met).length;
console.log(
  `summary: ${measured.length - missed} of ${measured.length} budgets met${figures.length > measured.length ? `, ${figures.length - measured.length} not measured` : ""}\n`,
);
console.log(summaryTable(figures));
