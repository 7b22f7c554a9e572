// deploy/grafana/imagegate-dashboard.json: every series a panel queries is one
// the gateway exposes (a renamed metric would leave a panel empty without a
// word), and every metric of the gateway's own has a panel.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(
  readFileSync(new URL("../../deploy/grafana/imagegate-dashboard.json", import.meta.url), "utf8"),
) as { uid: string; panels: Panel[]; templating: { list: Array<{ name: string }> } };

/** Metric names with their type, from the exposition's `# TYPE` lines. */
async function exposed(): Promise<Map<string, string>> {
  const metrics = createMetrics(
    { tasksInFlight: () => 0, circuits: () => [{ channel: "ch_default", open: false }] },
    { tenantLabels: false },
  );
  const { body } = await metrics.scrape();
  const types = new Map<string, string>();
  for (const match of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    types.set(match[1] as string, match[2] as string);
  }
  return types;
}

/** The metric a queried series belongs to (a histogram's _bucket, _sum and _count are its own). */
function metricOf(series: string, types: Map<string, string>): string | undefined {
  if (types.has(series)) return series;
  const base = series.replace(/_(bucket|sum|count)$/, "");
  return types.get(base) === "histogram" ? base : undefined;
}

describe("the Grafana dashboard", () => {
  const queries = dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
  );

  it("queries only series the gateway exposes", async () => {
    const types = await exposed();
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      const series = expr.match(/imagegate_[a-z0-9_]+/g) ?? [];
      expect(series.length, panel).toBeGreaterThan(0);
      for (const name of series) expect(metricOf(name, types), `${panel}: ${name}`).toBeDefined();
    }
  });

  it("shows every metric of the gateway's own", async () => {
    const types = await exposed();
    const queried = new Set(
      queries.flatMap(({ expr }) =>
        (expr.match(/imagegate_[a-z0-9_]+/g) ?? []).map((name) => metricOf(name, types)),
      ),
    );
    const own = [...types.keys()].filter(
      (name) => !name.startsWith("imagegate_process_") && !name.startsWith("imagegate_nodejs_"),
    );
    expect(own).toContain("imagegate_http_requests_total");
    for (const name of own) expect(queried, name).toContain(name);
  });

  it("is importable: unique panel ids, a Prometheus data source to choose", () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.uid).toBe("imagegate-overview");
    expect(dashboard.templating.list.map((variable) => variable.name)).toContain("datasource");
  });
});
