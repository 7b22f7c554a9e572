// Small result images as rows of the embedded database (storage/small-blobs.ts).
import type { SmallBlobs } from "../../storage/small-blobs.js";
import type { Db } from "./database.js";
import type { WriteQueue } from "./write-queue.js";

export function sqliteSmallBlobs(db: Db, writes: WriteQueue): SmallBlobs {
  const insert = db.prepare("INSERT INTO small_blobs (id, bytes, created_at) VALUES (?, ?, ?)");
  const select = db.prepare<[string], { bytes: Buffer }>(
    "SELECT bytes FROM small_blobs WHERE id = ?",
  );
  const remove = db.prepare("DELETE FROM small_blobs WHERE id = ?");
  const sweep = db.prepare("DELETE FROM small_blobs WHERE created_at < ?");
  return {
    put(id, bytes, createdAt) {
      return writes.defer(() => insert.run(id, bytes, createdAt));
    },
    async get(id) {
      writes.flush();
      return select.get(id)?.bytes;
    },
    async remove(id) {
      writes.commit(() => remove.run(id));
    },
    async sweep(olderThan) {
      return writes.commit(() => sweep.run(olderThan)).changes;
    },
  };
}
