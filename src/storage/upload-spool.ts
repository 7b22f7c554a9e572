// Where uploaded reference images wait between the request and the upstream
// submit: files on disk (0600, in a 0700 folder), never whole in memory. Each
// file belongs to one request and is removed once its submit has gone out or
// the request was refused; what a crash leaves behind is swept.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

export interface UploadSpool {
  /** A fresh path in the spool (the folder exists once this resolves). */
  newPath(): Promise<string>;
  /** Removes spooled files; never throws. */
  remove(paths: readonly string[]): Promise<void>;
  /** Removes files last written before `olderThan` (clock ms); returns how many. */
  sweep(olderThan: number): Promise<number>;
}

const suffix = ".upload";

export function createUploadSpool(dir: string): UploadSpool {
  // Made again whenever it is missing (a cleaner may remove it), and never
  // a failure remembered: once the operator fixes the folder, uploads work.
  let made = false;
  const ensureDir = async () => {
    if (made) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    made = true;
  };
  return {
    async newPath() {
      if (made) {
        // Cheap check that it is still there; recreated if not.
        made = await stat(dir).then(
          (info) => info.isDirectory(),
          () => false,
        );
      }
      await ensureDir();
      return join(dir, `${randomBytes(16).toString("base64url")}${suffix}`);
    },
    async remove(paths) {
      await Promise.all(paths.map((path) => rm(path, { force: true }).catch(() => {})));
    },
    async sweep(olderThan) {
      // Nothing to sweep where nothing was spooled: the folder is made by
      // the first upload, never by the sweep.
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
        throw err;
      }
      let removed = 0;
      for (const name of names) {
        if (!name.endsWith(suffix)) continue;
        const path = join(dir, name);
        try {
          if ((await stat(path)).mtimeMs < olderThan) {
            await rm(path, { force: true });
            removed++;
          }
        } catch {
          // Removed meanwhile by its request.
        }
      }
      return removed;
    },
  };
}
