// The data dir holds the tenant database (key hashes, sealed credentials,
// prompts) and re-hosted images: nothing in it is for other local users.
// Directories are 0700 and files 0600, whoever created them and under
// whatever umask; a data dir that already existed (a Docker volume, an
// earlier version) is brought into line at start.
import {
  chmodSync,
  closeSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
} from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

export const privateDirMode = 0o700;
export const privateFileMode = 0o600;

export interface MadePrivate {
  /** Paths whose mode was changed. */
  fixed: string[];
  /** Paths whose mode could not be changed (owned by another user, say). */
  failed: string[];
}

/** The error codes of something that vanished or that this process may not touch. */
const skippable = new Set(["ENOENT", "EACCES", "EPERM"]);

function isSkippable(err: unknown): boolean {
  return skippable.has((err as NodeJS.ErrnoException).code ?? "");
}

/** What the gateway keeps in its data dir: the database files and its folders. */
const ownedFolders = new Set(["images", "uploads"]);
const isOwned = (name: string) => name.startsWith("imagegate.db") || ownedFolders.has(name);

/**
 * Makes `dir` (created if missing) and what the gateway keeps in it private to
 * the owner: every directory 0700, every regular file 0600. Only the
 * gateway's own entries are touched (the database files, `images/`,
 * `uploads/`), so a data dir pointed at a shared folder by mistake does not
 * have its other contents changed. Symbolic links inside are neither followed
 * nor changed (chmod would change their target, which may lie outside the
 * data dir); the data dir itself may be a link.
 */
export function makePrivate(dir: string): MadePrivate {
  const result: MadePrivate = { fixed: [], failed: [] };
  // Windows has no such modes; chmod there only toggles read-only.
  if (process.platform === "win32") return result;
  mkdirPrivateSync(dir);
  const root = resolve(dir);
  visit(root, result, { follow: true, recurse: false });
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (err) {
    if (isSkippable(err)) return result;
    throw err;
  }
  for (const name of names) if (isOwned(name)) visit(join(root, name), result);
  return result;
}

function visit(
  path: string,
  result: MadePrivate,
  how: { follow?: boolean; recurse?: boolean } = {},
): void {
  let info: ReturnType<typeof lstatSync>;
  try {
    info = how.follow ? statSync(path) : lstatSync(path);
  } catch (err) {
    // Removed meanwhile (a running gateway sweeping images, say).
    if (isSkippable(err)) return;
    throw err;
  }
  const isDir = info.isDirectory();
  if (!isDir && !info.isFile()) return;
  const wanted = isDir ? privateDirMode : privateFileMode;
  if ((info.mode & 0o7777) !== wanted) {
    try {
      chmodSync(path, wanted);
      result.fixed.push(path);
    } catch (err) {
      if (!isSkippable(err)) throw err;
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") result.failed.push(path);
    }
  }
  if (!isDir || how.recurse === false) return;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (err) {
    // A directory this process may not read (lost+found at a volume's root).
    if (isSkippable(err)) return;
    throw err;
  }
  for (const name of names) visit(join(path, name), result);
}

/** One line for an operator, or undefined when there is nothing to say. */
export function describeMadePrivate(dir: string, made: MadePrivate): string | undefined {
  const parts: string[] = [];
  if (made.fixed.length > 0) {
    parts.push(
      `made ${made.fixed.length} path(s) in ${dir} private (directories 0700, files 0600)`,
    );
  }
  if (made.failed.length > 0) {
    parts.push(
      `could not make ${made.failed.length} path(s) private (${made.failed.slice(0, 5).join(", ")}${made.failed.length > 5 ? ", …" : ""})`,
    );
  }
  return parts.length > 0 ? parts.join("; ") : undefined;
}

/**
 * Creates `path` empty and 0600 if it does not exist. SQLite gives the -wal and
 * -shm files it creates the database file's mode, so the database file must be
 * private before SQLite first opens it.
 */
export function createPrivateFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", privateFileMode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return;
    throw err;
  }
  try {
    // The mode given to open() passes through the umask.
    fchmodSync(fd, privateFileMode);
  } finally {
    closeSync(fd);
  }
}

/** The directories from `first` (made by a recursive mkdir) down to `dir`. */
function madeChain(first: string, dir: string): string[] {
  const top = resolve(first);
  const chain: string[] = [];
  for (let path = resolve(dir); ; path = dirname(path)) {
    chain.push(path);
    if (path === top || dirname(path) === path) return chain;
  }
}

/**
 * `mkdir -p` whose new directories are exactly 0700: mkdir's own mode passes
 * through the umask, so they are set again after. Directories that existed
 * are left as they are.
 */
export function mkdirPrivateSync(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: privateDirMode });
  if (first === undefined) return;
  for (const path of madeChain(first, dir)) chmodSync(path, privateDirMode);
}

/** The asynchronous mkdirPrivateSync. */
export async function mkdirPrivate(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: privateDirMode });
  if (first === undefined) return;
  for (const path of madeChain(first, dir)) await chmod(path, privateDirMode);
}
