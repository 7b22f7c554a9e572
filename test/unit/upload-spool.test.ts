// The upload spool: fresh paths in a private folder, removal that never
// throws, and a sweep of what a crash left behind.
import { chmod, mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUploadSpool } from "../../src/storage/upload-spool.js";

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "imagegate-spool-"));
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** Writes a file and sets its modification time to `mtimeMs` (whole seconds). */
async function fileAt(path: string, mtimeMs: number): Promise<void> {
  await writeFile(path, "x");
  await utimes(path, mtimeMs / 1000, mtimeMs / 1000);
}

describe("upload spool", () => {
  it("hands out distinct .upload paths inside its folder, which it creates 0700", async () => {
    const dir = join(base, "nested", "uploads");
    const spool = createUploadSpool(dir);
    const first = await spool.newPath();
    const second = await spool.newPath();
    expect(dirname(first)).toBe(dir);
    expect(dirname(second)).toBe(dir);
    expect(basename(first)).toMatch(/^[A-Za-z0-9_-]{22}\.upload$/);
    expect(second).not.toBe(first);
    expect(await modeOf(dir)).toBe(0o700);
    // A path, not a file: the request writes it.
    expect(await readdir(dir)).toEqual([]);
  });

  it("makes a folder that already existed 0700", async () => {
    const dir = join(base, "uploads");
    await mkdir(dir);
    await chmod(dir, 0o755);
    await createUploadSpool(dir).newPath();
    expect(await modeOf(dir)).toBe(0o700);
  });

  it("removes files and never throws for ones that are missing or cannot be removed", async () => {
    const spool = createUploadSpool(base);
    const kept = join(base, "kept.upload");
    const present = await spool.newPath();
    await writeFile(present, "bytes");
    await writeFile(kept, "bytes");
    const folder = join(base, "folder.upload");
    await mkdir(folder);
    await expect(
      spool.remove([join(base, "missing.upload"), present, folder, join(base, "no", "such")]),
    ).resolves.toBeUndefined();
    expect((await readdir(base)).sort()).toEqual(["folder.upload", "kept.upload"]);
    await expect(spool.remove([])).resolves.toBeUndefined();
  });

  it("sweeps only .upload files last written before the cut-off", async () => {
    const spool = createUploadSpool(base);
    const cutoff = 1_700_000_000_000;
    await fileAt(join(base, "old.upload"), cutoff - 60_000);
    await fileAt(join(base, "older.upload"), cutoff - 3_600_000);
    await fileAt(join(base, "exactly.upload"), cutoff);
    await fileAt(join(base, "fresh.upload"), cutoff + 60_000);
    await fileAt(join(base, "old.png"), cutoff - 60_000);
    await fileAt(join(base, "old.upload.part"), cutoff - 60_000);
    await mkdir(join(base, "old-folder.upload"));
    await utimes(
      join(base, "old-folder.upload"),
      (cutoff - 60_000) / 1000,
      (cutoff - 60_000) / 1000,
    );

    expect(await spool.sweep(cutoff)).toBe(2);
    expect((await readdir(base)).sort()).toEqual([
      "exactly.upload",
      "fresh.upload",
      "old-folder.upload",
      "old.png",
      "old.upload.part",
    ]);
    expect(await spool.sweep(cutoff)).toBe(0);
    expect(await spool.sweep(cutoff + 1)).toBe(1);
    expect(await readdir(base)).not.toContain("exactly.upload");
  });

  it("sweeps a folder that does not exist yet as empty, without making it", async () => {
    const dir = join(base, "later");
    expect(await createUploadSpool(dir).sweep(Date.now())).toBe(0);
    await expect(readdir(dir)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
