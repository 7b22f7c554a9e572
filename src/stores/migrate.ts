// `imagegate store migrate`: moving up from the embedded store to the shared
// engines. Copies an embedded installation (the vault, channels, generation
// records and so usage, learned latencies, small results as rows, and, given a
// bucket, the result files) into PostgreSQL (and S3), then verifies that every
// source row and file is there. The data dir wins over what an earlier run
// copied: a second run after an interruption, or after changes on the data
// dir, brings PostgreSQL to the data dir's state (rows that are the same are
// left alone). The gateway on the data dir should be stopped first.
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { isBlobId } from "../storage/blobs.js";
import { defaultKeyPrefix } from "../storage/s3-blobs.js";
import { checkMasterKey } from "./master-key.js";
import { inTransaction, openPostgres, type Pool } from "./postgres/database.js";
import { postgresMasterKey } from "./postgres/master-key.js";
import { type Db, openExistingStore } from "./sqlite/database.js";
import { sqliteMasterKey } from "./sqlite/master-key.js";

/** The tables copied, parents first (foreign keys), each with its primary key. */
const tables = [
  { name: "tenants", key: "id" },
  { name: "api_keys", key: "id" },
  { name: "channels", key: "id" },
  { name: "generations", key: "id" },
  { name: "model_latency", key: "model" },
  { name: "small_blobs", key: "id" },
] as const;

type TableName = (typeof tables)[number]["name"];

export interface TableReport {
  /** Rows in the data dir. */
  source: number;
  /** Rows this run wrote: new ones, and ones changed since an earlier run (the rest were there already). */
  copied: number;
  /** Source rows found in PostgreSQL afterwards: equal to `source` when all is well. */
  present: number;
}

export interface MigrationReport {
  object: "store_migration";
  tables: Record<TableName, TableReport>;
  /** Result files over the small-image size, copied to the bucket (or left, without one). */
  files: { source: number; copied: number; present: number; bucket: string | null };
  verified: boolean;
}

export interface MigrateOptions {
  dataDir: string;
  databaseUrl: string;
  masterKey: Buffer | undefined;
  /** The bucket for result files; without one, files stay in the data dir. */
  s3?: { client: S3Client; bucket: string; keyPrefix?: string } | undefined;
}

/** Rows per INSERT: well under PostgreSQL's 65,535 parameters for every table here. */
const batchRows = 200;

export async function migrateStore(options: MigrateOptions): Promise<MigrationReport> {
  const db = openExistingStore(options.dataDir);
  let pool: Pool | undefined;
  try {
    // Both must open with the configured key: credentials sealed with one key
    // are never mixed with another's.
    await checkMasterKey(sqliteMasterKey(db), options.masterKey);
    pool = await openPostgres(options.databaseUrl);
    await checkMasterKey(postgresMasterKey(pool), options.masterKey);
    const report = {} as Record<TableName, TableReport>;
    for (const table of tables) report[table.name] = await copyTable(db, pool, table);
    // Running replicas reload the channels at their next request.
    await pool.query(
      `INSERT INTO meta (key, value) VALUES ('channels_version', '1')
       ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text`,
    );
    const files = await copyFiles(join(options.dataDir, "images"), options.s3);
    const verified =
      Object.values(report).every((table) => table.present === table.source) &&
      (options.s3 === undefined || files.present === files.source);
    return { object: "store_migration", tables: report, files, verified };
  } finally {
    db.close();
    await pool?.end();
  }
}

async function copyTable(
  db: Db,
  pool: Pool,
  table: { name: TableName; key: string },
): Promise<TableReport> {
  // The columns both sides have (PostgreSQL's own, such as a lease, keep their defaults).
  const sourceColumns = (db.pragma(`table_info(${table.name})`) as Array<{ name: string }>).map(
    (column) => column.name,
  );
  const targetColumns = new Set(
    (
      await pool.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = $1`,
        [table.name],
      )
    ).rows.map((row) => row.column_name),
  );
  const missing = sourceColumns.filter((column) => !targetColumns.has(column));
  if (missing.length > 0) {
    throw new Error(`${table.name} has columns PostgreSQL lacks: ${missing.join(", ")}`);
  }
  // Names from the two schemas' own catalogues; only plain identifiers reach the SQL.
  const odd = sourceColumns.filter((column) => !/^[a-z_][a-z0-9_]*$/.test(column));
  if (odd.length > 0) throw new Error(`${table.name} has unexpected columns: ${odd.join(", ")}`);
  const columns = sourceColumns;
  const updated = columns.filter((column) => column !== table.key);
  // Read a page at a time in key order: a table of large rows (small
  // results' bytes) is never held whole.
  const page = db.prepare(
    `SELECT ${columns.join(", ")} FROM ${table.name} WHERE ${table.key} > ? ORDER BY ${table.key} LIMIT ${batchRows}`,
  );
  const keys: string[] = [];
  let copied = 0;
  await inTransaction(pool, async (client) => {
    let after = "";
    for (;;) {
      const batch = page.all(after) as Array<Record<string, unknown>>;
      if (batch.length === 0) break;
      after = String(batch[batch.length - 1]?.[table.key]);
      const values: unknown[] = [];
      const tuples = batch.map((row) => {
        keys.push(String(row[table.key]));
        const placeholders = columns.map((column) => {
          values.push(row[column] ?? null);
          return `$${values.length}`;
        });
        return `(${placeholders.join(", ")})`;
      });
      // The source wins: a row changed since an earlier run (a key revoked, a
      // task finished) is written again; one that is the same is left alone.
      const result = await client.query(
        `INSERT INTO ${table.name} AS t (${columns.join(", ")}) VALUES ${tuples.join(", ")}
         ON CONFLICT (${table.key}) DO UPDATE SET ${updated.map((c) => `${c} = excluded.${c}`).join(", ")}
         WHERE (${updated.map((c) => `t.${c}`).join(", ")}) IS DISTINCT FROM (${updated.map((c) => `excluded.${c}`).join(", ")})`,
        values,
      );
      copied += result.rowCount ?? 0;
    }
  });
  let present = 0;
  for (let start = 0; start < keys.length; start += 10_000) {
    const found = await pool.query<{ found: number }>(
      `SELECT COUNT(*) AS found FROM ${table.name} WHERE ${table.key} = ANY($1::text[])`,
      [keys.slice(start, start + 10_000)],
    );
    present += Number(found.rows[0]?.found ?? 0);
  }
  return { source: keys.length, copied, present };
}

async function copyFiles(dir: string, s3: MigrateOptions["s3"]): Promise<MigrationReport["files"]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isBlobId);
  } catch {
    names = [];
  }
  if (s3 === undefined) {
    return { source: names.length, copied: 0, present: 0, bucket: null };
  }
  const prefix = s3.keyPrefix ?? defaultKeyPrefix;
  let copied = 0;
  let present = 0;
  for (const name of names) {
    const path = join(dir, name);
    const size = (await stat(path)).size;
    const key = `${prefix}${name}`;
    if ((await objectSize(s3.client, s3.bucket, key)) !== size) {
      await new Upload({
        client: s3.client,
        params: { Bucket: s3.bucket, Key: key, Body: createReadStream(path) },
      }).done();
      copied++;
    }
    if ((await objectSize(s3.client, s3.bucket, key)) === size) present++;
  }
  return { source: names.length, copied, present, bucket: s3.bucket };
}

async function objectSize(client: S3Client, bucket: string, key: string) {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength;
  } catch (err) {
    if ((err as { name?: string }).name === "NotFound") return undefined;
    throw err;
  }
}
