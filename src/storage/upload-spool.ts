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
  let ready: Promise<void> | undefined;
  const ensureDir = () => {
    ready ??= mkdir(dir, { recursive: true, mode: 0o700 }).then(() => chmod(dir, 0o700));
    return ready;
  };
  return {
    async newPath() {
      await ensureDir();
      return join(dir, `${randomBytes(16).toString("base64url")}${suffix}`);
    },
    async remove(paths) {
      await Promise.all(paths.map((path) => rm(path, { force: true }).catch(() => {})));
    },
    async sweep(olderThan) {
      await ensureDir();
      let removed = 0;
      for (const name of await readdir(dir)) {
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
