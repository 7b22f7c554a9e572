// The learned latencies in the embedded database (one row per upstream model).

import type { LatencyStats, LatencyStore } from "../../upstream/latency-model.js";
import type { Db } from "./database.js";

interface Row {
  model: string;
  samples: number;
  mean_log: number;
  var_log: number;
}

export function sqliteLatencyStore(db: Db, now: () => number): LatencyStore {
  const upsert = db.prepare(
    `INSERT INTO model_latency (model, samples, mean_log, var_log, updated_at)
     VALUES (@model, @samples, @meanLog, @varLog, @updatedAt)
     ON CONFLICT(model) DO UPDATE SET samples = excluded.samples,
       mean_log = excluded.mean_log, var_log = excluded.var_log, updated_at = excluded.updated_at`,
  );
  const saveAll = db.transaction((rows: readonly LatencyStats[], updatedAt: number) => {
    for (const row of rows) upsert.run({ ...row, updatedAt });
  });
  return {
    async load() {
      const rows = db
        .prepare("SELECT model, samples, mean_log, var_log FROM model_latency")
        .all() as Row[];
      return rows.map((row) => ({
        model: row.model,
        samples: row.samples,
        meanLog: row.mean_log,
        varLog: row.var_log,
      }));
    },
    async save(rows) {
      saveAll(rows, now());
    },
  };
}
