// What the gateway keeps of its result images: small ones are rows of the
// embedded database (storage/small-blobs.ts), larger ones files in images/.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";

function rows<T>(dataDir: string, read: (db: Database.Database) => T, empty: T): T {
  let db: Database.Database;
  try {
    db = new Database(join(dataDir, "imagegate.db"), { readonly: true, fileMustExist: true });
  } catch {
    return empty;
  }
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The ids of every stored image, rows and files alike (temporary files excluded). */
export async function storedImages(dataDir: string): Promise<string[]> {
  const files = await readdir(join(dataDir, "images")).catch(() => [] as string[]);
  const ids = rows(
    dataDir,
    (db) =>
      (db.prepare("SELECT id FROM small_blobs").all() as Array<{ id: string }>).map(
        (row) => row.id,
      ),
    [] as string[],
  );
  return [...ids, ...files.filter((name) => !name.startsWith("."))].sort();
}

/** One stored image's bytes. */
export async function storedImage(dataDir: string, id: string): Promise<Buffer> {
  const row = rows(
    dataDir,
    (db) =>
      db.prepare<[string], { bytes: Buffer }>("SELECT bytes FROM small_blobs WHERE id = ?").get(id),
    undefined,
  );
  return row?.bytes ?? readFile(join(dataDir, "images", id));
}
