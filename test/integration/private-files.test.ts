// Regression (issue 10, finding 5): with a data dir that already existed (a
// Docker volume), the database, its -wal and -shm and the images came out
// readable by every local user (0644 files, 0755 directories). The gateway now
// makes the data dir 0700 and everything in it 0600 (directories 0700) at
// start, and says so in one warn line when it changed anything.
import { execFile } from "node:child_process";
import { chmod, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLocalBlobStore } from "../../src/storage/blobs.js";
import { describeMadePrivate, makePrivate } from "../../src/storage/private-files.js";
import { compileSources } from "../helpers/gateway.js";

const adminToken = "test-admin-token-0123456789";
const masterKey = Buffer.alloc(32, 7).toString("base64");
const imageId = "AAAAAAAAAAAAAAAAAAAAAA.png";
const run = promisify(execFile);

let previousUmask: number;
beforeAll(() => {
  // The usual umask, under which new files would be 0644 and directories 0755.
  previousUmask = process.umask(0o022);
});
afterAll(() => {
  process.umask(previousUmask);
});

let base: string;
let app: FastifyInstance | undefined;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "imagegate-private-"));
});
afterEach(async () => {
  await app?.close();
  app = undefined;
  await rm(base, { recursive: true, force: true });
});

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

/** Starts a gateway on `dataDir`; returns the warn lines it logged. */
async function start(dataDir: string): Promise<Array<{ msg: string; fixed?: number }>> {
  const lines: Array<{ msg: string; fixed?: number }> = [];
  const config = loadConfig({
    LOG_LEVEL: "warn",
    IMAGEGATE_DATA_DIR: dataDir,
    // Never called: nothing here generates.
    IMAGEGATE_UPSTREAM_URL: "http://127.0.0.1:9",
    IMAGEGATE_ADMIN_TOKEN: adminToken,
    IMAGEGATE_MASTER_KEY: masterKey,
  });
  app = await buildApp(config, {
    logDestination: { write: (line) => void lines.push(JSON.parse(line)) },
  });
  // onReady runs the first image sweep, which creates images/ when missing.
  await app.ready();
  return lines;
}

async function writeSomething(): Promise<void> {
  const created = await app?.inject({
    method: "POST",
    url: "/admin/tenants",
    headers: { authorization: `Bearer ${adminToken}` },
    payload: { name: "acme" },
  });
  expect(created?.statusCode).toBe(201);
}

const privacyLines = (lines: Array<{ msg: string }>) =>
  lines.filter((line) => line.msg.includes("private"));

describe("data dir privacy", () => {
  it("makes an existing 0755 data dir and its 0644 files private at start, and says so once", async () => {
    const dataDir = join(base, "data");
    await mkdir(dataDir);
    // A database left by an earlier version, with a crash's -wal and -shm.
    const db = new Database(join(dataDir, "imagegate.db"));
    db.pragma("journal_mode = WAL");
    db.close();
    await writeFile(join(dataDir, "imagegate.db-wal"), "");
    await writeFile(join(dataDir, "imagegate.db-shm"), "");
    await mkdir(join(dataDir, "images"));
    await writeFile(join(dataDir, "images", imageId), "not really a png");
    // Any subfolder, not only the ones the gateway has today.
    await mkdir(join(dataDir, "uploads", "nested"), { recursive: true });
    await writeFile(join(dataDir, "uploads", "nested", "upload.part"), "bytes");
    const paths = {
      dirs: [dataDir, join(dataDir, "images"), join(dataDir, "uploads", "nested")],
      files: [
        join(dataDir, "imagegate.db"),
        join(dataDir, "imagegate.db-wal"),
        join(dataDir, "imagegate.db-shm"),
        join(dataDir, "images", imageId),
        join(dataDir, "uploads", "nested", "upload.part"),
      ],
    };
    for (const dir of [...paths.dirs, join(dataDir, "uploads")]) await chmod(dir, 0o755);
    for (const file of paths.files) await chmod(file, 0o644);
    // A link out of the data dir is not followed: its target is not ours.
    const outside = join(base, "outside.txt");
    await writeFile(outside, "someone else's");
    await chmod(outside, 0o644);
    await symlink(outside, join(dataDir, "link"));

    const lines = await start(dataDir);

    for (const dir of [...paths.dirs, join(dataDir, "uploads")]) {
      expect({ dir, mode: await mode(dir) }).toEqual({ dir, mode: 0o700 });
    }
    for (const file of paths.files) {
      expect({ file, mode: await mode(file) }).toEqual({ file, mode: 0o600 });
    }
    expect(await mode(outside)).toBe(0o644);
    expect((await lstat(join(dataDir, "link"))).isSymbolicLink()).toBe(true);
    const said = privacyLines(lines);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 40, fixed: 9 });
    expect(said[0]?.msg).toContain("made 9 path(s)");

    await writeSomething();
    expect(await mode(join(dataDir, "imagegate.db-wal"))).toBe(0o600);
    expect(await mode(join(dataDir, "imagegate.db-shm"))).toBe(0o600);

    // Nothing left to fix: nothing said.
    await app?.close();
    app = undefined;
    expect(privacyLines(await start(dataDir))).toEqual([]);
  });

  it("creates a missing data dir, its database, -wal, -shm and images/ private, silently", async () => {
    const dataDir = join(base, "fresh", "data");
    const lines = await start(dataDir);
    await writeSomething();
    expect(await mode(join(base, "fresh"))).toBe(0o700);
    expect(await mode(dataDir)).toBe(0o700);
    expect(await mode(join(dataDir, "images"))).toBe(0o700);
    for (const name of ["imagegate.db", "imagegate.db-wal", "imagegate.db-shm"]) {
      expect({ name, mode: await mode(join(dataDir, name)) }).toEqual({ name, mode: 0o600 });
    }
    expect(privacyLines(lines)).toEqual([]);
  });

  it("is made private by the CLI as well, with one line on stderr and JSON alone on stdout", async () => {
    const dataDir = join(base, "data");
    await mkdir(dataDir);
    await chmod(dataDir, 0o755);
    // A database file that SQLite has never written: its -wal and -shm take its mode.
    await writeFile(join(dataDir, "imagegate.db"), "");
    await chmod(join(dataDir, "imagegate.db"), 0o644);
    // The CLI compiled to JavaScript, run by plain Node as `dist/cli.js` is.
    const compiled = await compileSources();
    const cli = compiled.entry("cli.ts");
    const { stdout, stderr } = await run(
      process.execPath,
      [cli, "tenants", "create", "--name", "acme"],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          IMAGEGATE_DATA_DIR: dataDir,
          IMAGEGATE_MASTER_KEY: masterKey,
        },
      },
    ).finally(() => compiled.remove());
    expect(JSON.parse(stdout)).toMatchObject({ object: "tenant", name: "acme" });
    expect(stderr.trim().split("\n")).toEqual([expect.stringContaining("made 2 path(s)")]);
    expect(await mode(dataDir)).toBe(0o700);
    expect(await mode(join(dataDir, "imagegate.db"))).toBe(0o600);
    // The CLI has exited (and SQLite removed -wal and -shm): the gateway on
    // the same dir keeps them private, and has nothing left to fix.
    expect(privacyLines(await start(dataDir))).toEqual([]);
    await writeSomething();
    for (const name of ["imagegate.db-wal", "imagegate.db-shm"]) {
      expect({ name, mode: await mode(join(dataDir, name)) }).toEqual({ name, mode: 0o600 });
    }
  });
});

describe("blob store directories", () => {
  it.each([
    ["022", 0o022],
    ["277 (owner's write bit masked)", 0o277],
  ])("are 0700 under umask %s", async (_name, umask) => {
    const dir = join(base, "store", "images");
    const before = process.umask(umask);
    try {
      const blobs = createLocalBlobStore(dir);
      const stored = await blobs.put(Readable.from([Buffer.from("bytes")]));
      await stored.written;
    } finally {
      process.umask(before);
    }
    expect(await mode(join(base, "store"))).toBe(0o700);
    expect(await mode(dir)).toBe(0o700);
  });
});

describe("the line an operator reads", () => {
  it("touches only the gateway's own entries: a data dir pointed at a shared folder keeps its other files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagegate-shared-"));
    try {
      await writeFile(join(dir, "notes.txt"), "x", { mode: 0o644 });
      await mkdir(join(dir, "bin"), { mode: 0o755 });
      await writeFile(join(dir, "bin", "tool"), "#!/bin/sh", { mode: 0o755 });
      await mkdir(join(dir, "images"), { mode: 0o755 });
      await writeFile(join(dir, "images", "a.png"), "x", { mode: 0o644 });
      const made = makePrivate(dir);
      expect(((await stat(join(dir, "notes.txt"))).mode & 0o777).toString(8)).toBe("644");
      expect(((await stat(join(dir, "bin"))).mode & 0o777).toString(8)).toBe("755");
      expect(((await stat(join(dir, "bin", "tool"))).mode & 0o777).toString(8)).toBe("755");
      expect(((await stat(join(dir, "images", "a.png"))).mode & 0o777).toString(8)).toBe("600");
      expect(made.fixed).toEqual([join(dir, "images"), join(dir, "images", "a.png")]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is nothing when nothing changed, and names what could not be fixed", () => {
    expect(describeMadePrivate("/data", { fixed: [], failed: [] })).toBeUndefined();
    // Running as root here, no chmod is refused: the refusal is described from a result.
    const failed = ["/data/a", "/data/b", "/data/c", "/data/d", "/data/e", "/data/f"];
    expect(describeMadePrivate("/data", { fixed: ["/data"], failed })).toBe(
      "made 1 path(s) in /data private (directories 0700, files 0600); " +
        "could not make 6 path(s) private (/data/a, /data/b, /data/c, /data/d, /data/e, …)",
    );
  });
});
