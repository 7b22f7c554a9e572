// Charts (Chart.js, with only the parts the console draws registered, so the
// bundle carries no other controller) and the data table each chart has
// beside it for those who cannot see it.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Filler,
  Legend,
  Tooltip,
);

/** The theme's colour for a CSS variable (light or dark, as the page is). */
function cssColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value === "" ? fallback : value;
}

const paletteSize = 8;

/** The n-th series colour of the theme. */
export function seriesColor(index: number): string {
  return cssColor(`--series-${(index % paletteSize) + 1}`, "#2563eb");
}

export interface Series {
  label: string;
  data: number[];
  /** A CSS variable name (e.g. "--ok") or a colour; default the palette's next. */
  color?: string;
}

export interface ChartViewProps {
  /** The canvas's accessible name: what the chart shows. */
  label: string;
  kind: "bar" | "line";
  labels: string[];
  series: Series[];
  stacked?: boolean;
}

function colorOf(series: Series, index: number): string {
  if (series.color === undefined) return seriesColor(index);
  return series.color.startsWith("--") ? cssColor(series.color, "#2563eb") : series.color;
}

function datasetsOf(props: ChartViewProps) {
  return props.series.map((series, index) => {
    const color = colorOf(series, index);
    return {
      label: series.label,
      data: series.data,
      backgroundColor: props.kind === "line" ? `${color}33` : color,
      borderColor: color,
      borderWidth: props.kind === "line" ? 2 : 0,
      pointRadius: props.kind === "line" ? 0 : undefined,
      fill: props.kind === "line",
      tension: 0,
      maxBarThickness: 48,
    };
  });
}

export function ChartView(props: ChartViewProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  useEffect(() => {
    if (canvas.current === null) return;
    const text = cssColor("--muted", "#555");
    const grid = cssColor("--border", "#ddd");
    const config: ChartConfiguration<"bar" | "line"> = {
      type: props.kind,
      data: { labels: props.labels, datasets: datasetsOf(props) },
      options: {
        // No animation: the charts redraw on every poll, and motion tells nothing here.
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            stacked: props.stacked ?? false,
            ticks: { color: text, maxRotation: 0, autoSkip: true },
            grid: { display: false },
          },
          y: {
            stacked: props.stacked ?? false,
            beginAtZero: true,
            ticks: { color: text, precision: 0 },
            grid: { color: grid },
          },
        },
        plugins: {
          legend: {
            display: props.series.length > 1,
            position: "bottom",
            labels: { color: text, boxWidth: 12 },
          },
        },
      },
    };
    chart.current = new Chart(canvas.current, config);
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [props.kind]);

  useEffect(() => {
    const current = chart.current;
    if (current === null) return;
    current.data.labels = props.labels;
    current.data.datasets = datasetsOf(props);
    // Options are Chart.js's resolvers: changed in place, as its docs say, never replaced.
    const legend = current.options.plugins?.legend;
    if (legend) legend.display = props.series.length > 1;
    current.update("none");
  });

  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={props.label} />
    </div>
  );
}

export interface DataTableProps {
  caption: string;
  headers: string[];
  rows: (string | number)[][];
  footer?: (string | number)[];
}

/** One row: the first cell heads it, the numbers follow right-aligned. */
function Row({ cells, headers }: { cells: (string | number)[]; headers: string[] }) {
  return (
    <tr>
      {cells.map((cell, index) =>
        index === 0 ? (
          <th scope="row" key={headers[index]}>
            {cell}
          </th>
        ) : (
          <td class="num" key={headers[index]}>
            {cell}
          </td>
        ),
      )}
    </tr>
  );
}

/** A table of the numbers, right-aligned after the first column. */
export function DataTable({ caption, headers, rows, footer }: DataTableProps) {
  return (
    <div class="table-wrap">
      <table class="data">
        <caption>{caption}</caption>
        <thead>
          <tr>
            {headers.map((header) => (
              <th scope="col" key={header}>
                {header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={headers.length} class="empty">
                No data.
              </td>
            </tr>
          ) : (
            rows.map((row) => <Row key={row.join("|")} cells={row} headers={headers} />)
          )}
        </tbody>
        {footer && (
          <tfoot>
            <Row cells={footer} headers={headers} />
          </tfoot>
        )}
      </table>
    </div>
  );
}

/** A chart with its numbers as a table behind a disclosure. */
export function ChartFigure(props: {
  title: string;
  chart: ChartViewProps;
  table: DataTableProps;
  children?: ComponentChildren;
}) {
  return (
    <figure class="card chart-card">
      <figcaption>{props.title}</figcaption>
      {props.children}
      <ChartView {...props.chart} />
      <details class="chart-data">
        <summary>Show the data as a table</summary>
        <DataTable {...props.table} />
      </details>
    </figure>
  );
}
