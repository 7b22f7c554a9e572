// Small images in the embedded database instead of one file each. Creating a
// file (open, write, close, and the directory entry) costs far more than a row
// in a batched commit: at a few thousand small results a second, the files were
// the gateway's largest cost. SQLite reads and writes blobs this small faster
// than the file system does; larger images stay files, streamed.
import type { Db } from "../tenancy/store.js";
import type { WriteQueue } from "./write-queue.js";

/** Images up to this size are rows; larger ones files. */
export const smallBlobLimit = 128 * 1024;

export interface SmallBlobs {
  /** Settles once the row is committed. */
  put(id: string, bytes: Buffer, createdAt: number): Promise<void>;
  get(id: string): Buffer | undefined;
  remove(id: string): void;
  /** Deletes rows written before `olderThan`; returns how many. */
  sweep(olderThan: number): number;
}

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
    get(id) {
      writes.flush();
      return select.get(id)?.bytes;
    },
    remove(id) {
      writes.commit(() => remove.run(id));
    },
    sweep(olderThan) {
      return writes.commit(() => sweep.run(olderThan)).changes;
    },
  };
}
