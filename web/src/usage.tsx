// Usage: one tenant's requests and images per UTC day and model, as a
// stacked bar chart (one bar a day, one colour a model) and as the table.
import { useEffect, useState } from "preact/hooks";
import { admin, messageOf, type UsageMetric, type UsageReport } from "./api.js";
import type { TenantList } from "./app.js";
import { ChartView } from "./charts.js";
import { count, daysBetween, limit, utcDay } from "./format.js";
import { ErrorNote, SectionHeader } from "./ui.js";

const metrics: { key: UsageMetric; label: string }[] = [
  { key: "images", label: "Images delivered" },
  { key: "images_requested", label: "Images requested upstream" },
  { key: "requests", label: "Requests" },
  { key: "upstream_tasks", label: "Upstream tasks" },
  { key: "succeeded", label: "Succeeded" },
  { key: "failed", label: "Failed" },
];

const columns: { key: UsageMetric; label: string }[] = [
  { key: "requests", label: "Requests" },
  { key: "upstream_tasks", label: "Upstream tasks" },
  { key: "images_requested", label: "Images requested" },
  { key: "images", label: "Images delivered" },
  { key: "succeeded", label: "Succeeded" },
  { key: "failed", label: "Failed" },
];

export function Usage(props: { tenants: TenantList }) {
  const { tenants } = props.tenants;
  const [tenantId, setTenantId] = useState("");
  const [from, setFrom] = useState(utcDay(13));
  const [to, setTo] = useState(utcDay());
  const [metric, setMetric] = useState<UsageMetric>("images");
  const [report, setReport] = useState<UsageReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = async (id: string) => {
    if (id === "") return;
    setBusy(true);
    setError(null);
    try {
      setReport(await admin.usage(id, from, to));
    } catch (err) {
      setError(messageOf(err));
      setReport(null);
    } finally {
      setBusy(false);
    }
  };

  // The first tenant is shown at once; later choices load on "Show usage".
  useEffect(() => {
    const first = tenants[0];
    if (tenantId === "" && first) {
      setTenantId(first.id);
      void load(first.id);
    }
  }, [tenants]);

  const tenant = tenants.find((candidate) => candidate.id === report?.tenant_id);
  const days = report ? daysBetween(report.from, report.to) : [];
  const models = report ? [...new Set(report.data.map((row) => row.model))].sort() : [];
  const metricLabel = metrics.find((item) => item.key === metric)?.label ?? metric;

  return (
    <section aria-labelledby="section-title">
      <SectionHeader title="Usage" />
      <form
        class="toolbar card"
        onSubmit={(event) => {
          event.preventDefault();
          void load(tenantId);
        }}
      >
        <div class="field">
          <label for="usage-tenant">Tenant</label>
          <select
            id="usage-tenant"
            value={tenantId}
            onChange={(event) => setTenantId(event.currentTarget.value)}
          >
            {tenants.length === 0 && <option value="">No tenants</option>}
            {tenants.map((item) => (
              <option key={item.id} value={item.id}>
                {item.name} ({item.id})
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="usage-from">From (UTC day)</label>
          <input
            id="usage-from"
            type="date"
            value={from}
            max={to}
            onInput={(event) => setFrom(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="usage-to">To (UTC day)</label>
          <input
            id="usage-to"
            type="date"
            value={to}
            min={from}
            onInput={(event) => setTo(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="usage-metric">Chart</label>
          <select
            id="usage-metric"
            value={metric}
            onChange={(event) => setMetric(event.currentTarget.value as UsageMetric)}
          >
            {metrics.map((item) => (
              <option key={item.key} value={item.key}>
                {item.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field field-button">
          <button type="submit" class="primary" disabled={busy || tenantId === ""}>
            {busy ? "Loading…" : "Show usage"}
          </button>
        </div>
      </form>
      <ErrorNote message={error} />

      {report && (
        <>
          <ul class="stats" aria-label="Totals">
            {columns.map((column) => (
              <li class="stat card" key={column.key}>
                <span class="stat-label">{column.label}</span>
                <span class="stat-value">{count(report.totals[column.key])}</span>
              </li>
            ))}
            <li class="stat card">
              <span class="stat-label">Budget / day</span>
              <span class="stat-value">{limit(report.images_per_day)}</span>
            </li>
          </ul>

          <figure class="card chart-card">
            <figcaption>
              {metricLabel} per UTC day by model — {tenant?.name ?? report.tenant_id}, {report.from}{" "}
              to {report.to}
            </figcaption>
            <ChartView
              label={`Stacked bar chart of ${metricLabel.toLowerCase()} per day by model for ${tenant?.name ?? report.tenant_id}, ${report.from} to ${report.to}; the table below has the same numbers`}
              kind="bar"
              stacked
              labels={days.map((day) => day.slice(5))}
              series={models.map((model) => ({
                label: model,
                data: days.map(
                  (day) =>
                    report.data.find((row) => row.day === day && row.model === model)?.[metric] ??
                    0,
                ),
              }))}
            />
          </figure>

          <div class="table-wrap card flush">
            <table class="data">
              <caption>
                Usage by day and model, {report.from} to {report.to}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Model</th>
                  {columns.map((column) => (
                    <th scope="col" class="num" key={column.key}>
                      {column.label}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {report.data.length === 0 && (
                  <tr>
                    <td colSpan={columns.length + 2} class="empty">
                      No usage in these days.
                    </td>
                  </tr>
                )}
                {report.data.map((row) => (
                  <tr key={`${row.day}|${row.model}`}>
                    <th scope="row">{row.day}</th>
                    <td class="mono">{row.model}</td>
                    {columns.map((column) => (
                      <td class="num" key={column.key}>
                        {count(row[column.key])}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
              <tfoot>
                <tr>
                  <th scope="row" colSpan={2}>
                    Total
                  </th>
                  {columns.map((column) => (
                    <td class="num" key={column.key}>
                      {count(report.totals[column.key])}
                    </td>
                  ))}
                </tr>
              </tfoot>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
