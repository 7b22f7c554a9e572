// Small images in the embedded database instead of one file each. Creating a
// file (open, write, close, and the directory entry) costs far more than a row
// in a batched commit: at a few thousand small results a second, the files were
// the gateway's largest cost. SQLite reads and writes blobs this small faster
// than the file system does; larger images stay files, streamed.

/** Images up to this size are rows; larger ones files. */
export const smallBlobLimit = 128 * 1024;

export interface SmallBlobs {
  /** Settles once the row is committed. */
  put(id: string, bytes: Buffer, createdAt: number): Promise<void>;
  get(id: string): Promise<Buffer | undefined>;
  remove(id: string): Promise<void>;
  /** Deletes rows written before `olderThan`; returns how many. */
  sweep(olderThan: number): Promise<number>;
}
