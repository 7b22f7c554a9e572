// The summary every scenario feeds: one row per budgeted figure, printed at the
// end as a markdown table that can be pasted into the README as it is.

export interface Figure {
  figure: string;
  measured: string;
  budget: string;
  /** undefined: for scale only, or not measured (skipped). */
  met: boolean | undefined;
}

/** A figure of a scenario that did not run, so the table still lists it. */
export const skipped = (figure: string, budget: string, why = "skipped"): Figure => ({
  figure,
  measured: why,
  budget,
  met: undefined,
});

const verdict = (met: boolean | undefined) => (met === undefined ? "" : met ? "met" : "**missed**");

/** Cells must not break the markdown table. */
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

export function summaryTable(figures: readonly Figure[]): string {
  const rows = figures.map(
    (f) => `| ${cell(f.figure)} | ${cell(f.measured)} | ${cell(f.budget)} | ${verdict(f.met)} |`,
  );
  return ["| figure | measured | budget | |", "|---|---|---|---|", ...rows].join("\n");
}
