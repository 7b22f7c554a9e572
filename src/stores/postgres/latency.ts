// The latency model's learned figures in PostgreSQL (one row per upstream model).
import type { LatencyStore } from "../../upstream/latency-model.js";
import { inTransaction, type Pool } from "./database.js";

interface Row {
  model: string;
  samples: number;
  mean_log: number;
  var_log: number;
}

export function postgresLatencyStore(pool: Pool, now: () => number): LatencyStore {
  return {
    async load() {
      const found = await pool.query<Row>(
        "SELECT model, samples, mean_log, var_log FROM model_latency",
      );
      return found.rows.map((row) => ({
        model: row.model,
        samples: row.samples,
        meanLog: row.mean_log,
        varLog: row.var_log,
      }));
    },
    async save(rows) {
      if (rows.length === 0) return;
      const updatedAt = now();
      await inTransaction(pool, async (client) => {
        for (const row of rows) {
          await client.query(
            `INSERT INTO model_latency (model, samples, mean_log, var_log, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (model) DO UPDATE SET samples = excluded.samples,
               mean_log = excluded.mean_log, var_log = excluded.var_log,
               updated_at = excluded.updated_at`,
            [row.model, row.samples, row.meanLog, row.varLog, updatedAt],
          );
        }
      });
    },
  };
}
