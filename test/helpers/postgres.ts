// A PostgreSQL schema of its own for each test: the project's machines run
// PostgreSQL (127.0.0.1:5432, trust auth, database `test`); tests reach it over
// a real connection, each in a schema made for it and dropped afterwards.
// IMAGEGATE_TEST_POSTGRES_URL points them at another server.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const testPostgresUrl =
  process.env.IMAGEGATE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestSchema {
  /** The database URL with this schema as its search_path: what IMAGEGATE_DATABASE_URL takes. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** The URL of `base` with `search_path` set to `schema` (a libpq `options` parameter). */
export function withSearchPath(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return url.toString();
}

export async function freshSchema(prefix = "t"): Promise<TestSchema> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: testPostgresUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withSearchPath(testPostgresUrl, name),
    async drop() {
      const client = new pg.Client({ connectionString: testPostgresUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
