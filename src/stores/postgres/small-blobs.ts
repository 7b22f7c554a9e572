// Small result images as rows of PostgreSQL (storage/small-blobs.ts), as BYTEA.
import type { SmallBlobs } from "../../storage/small-blobs.js";
import type { Pool } from "./database.js";

export function postgresSmallBlobs(pool: Pool): SmallBlobs {
  return {
    async put(id, bytes, createdAt) {
      await pool.query("INSERT INTO small_blobs (id, bytes, created_at) VALUES ($1, $2, $3)", [
        id,
        bytes,
        createdAt,
      ]);
    },
    async get(id) {
      const found = await pool.query<{ bytes: Buffer }>(
        "SELECT bytes FROM small_blobs WHERE id = $1",
        [id],
      );
      return found.rows[0]?.bytes;
    },
    async remove(id) {
      await pool.query("DELETE FROM small_blobs WHERE id = $1", [id]);
    },
    async sweep(olderThan) {
      const swept = await pool.query("DELETE FROM small_blobs WHERE created_at < $1", [olderThan]);
      return swept.rowCount ?? 0;
    },
  };
}
