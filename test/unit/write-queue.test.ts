// Group commit (src/stores/sqlite/write-queue.ts) on a real SQLite file, watched from
// a second connection: what is committed when, what is one transaction, and
// what happens to a write (or a whole batch) that fails.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { createWriteQueue } from "../../src/stores/sqlite/write-queue.js";

let dir: string;
let db: Db;
/** Another connection to the same file: sees only what is committed. */
let other: Db;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-write-queue-"));
  db = openStore(dir);
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL)");
  other = openStore(dir);
});
afterEach(async () => {
  vi.useRealTimers();
  other.close();
  db.close();
  await rm(dir, { recursive: true, force: true });
});

const insert = (k: string | null) => () => {
  db.prepare("INSERT INTO t (k) VALUES (?)").run(k);
};
const seen = (conn: Db = other) =>
  conn
    .prepare<[], { k: string }>("SELECT k FROM t ORDER BY k")
    .all()
    .map((row) => row.k);
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** How `promise` stands; read it after an `await`, which lets its settling be seen. */
function track(promise: Promise<unknown>): { state: "pending" | "resolved" | "rejected" } {
  const tracked = { state: "pending" as "pending" | "resolved" | "rejected" };
  promise.then(
    () => {
      tracked.state = "resolved";
    },
    () => {
      tracked.state = "rejected";
    },
  );
  return tracked;
}

describe("write queue", () => {
  it("commits deferred writes at the end of the turn, not before", async () => {
    const q = createWriteQueue(db);
    const done = [q.defer(insert("a")), q.defer(insert("b"))];
    const first = track(done[0] as Promise<void>);
    expect(seen()).toEqual([]);
    // Microtasks run before setImmediate: still nothing committed.
    await Promise.resolve();
    expect(seen()).toEqual([]);
    expect(first.state).toBe("pending");
    await Promise.all(done);
    expect(seen()).toEqual(["a", "b"]);
  });

  it("makes one transaction of many defers in one turn", async () => {
    // Counted in WAL frames, from SQLite itself: each commit appends the pages
    // it changed, so 50 one-row commits would leave 50+ frames, one commit of
    // 50 tiny rows a handful.
    const walFrames = () =>
      (other.pragma("wal_checkpoint(PASSIVE)") as Array<{ log: number }>)[0]?.log ?? -1;
    other.pragma("wal_checkpoint(TRUNCATE)");
    expect(walFrames()).toBe(0);
    const q = createWriteQueue(db);
    await Promise.all(Array.from({ length: 50 }, (_, i) => q.defer(insert(`k${i}`))));
    expect(seen()).toHaveLength(50);
    expect(walFrames()).toBeGreaterThan(0);
    expect(walFrames()).toBeLessThan(10);
  });

  it("commit() commits the queue first, with its write, and returns the write's value", async () => {
    const q = createWriteQueue(db);
    const queued = track(q.defer(insert("a")));
    const value = q.commit(() => {
      // The queued write went in first, in this same transaction.
      expect(seen(db)).toEqual(["a"]);
      expect(db.inTransaction).toBe(true);
      insert("b")();
      return 42;
    });
    expect(value).toBe(42);
    expect(seen()).toEqual(["a", "b"]);
    await Promise.resolve(); // settled by commit() itself, before any flush
    expect(queued.state).toBe("resolved");
  });

  it("commit() throws its write's constraint error after committing the queue without it", async () => {
    const q = createWriteQueue(db);
    const queued = track(q.defer(insert("a")));
    expect(() =>
      q.commit(() => {
        insert("w")(); // undone with the write it belongs to
        insert(null)();
      }),
    ).toThrow(/NOT NULL/);
    expect(seen()).toEqual(["a"]);
    await Promise.resolve();
    expect(queued.state).toBe("resolved");
  });

  it("a bad queued write loses no other write of its batch and is given up after 3 batches", async () => {
    const onError = vi.fn();
    const q = createWriteQueue(db, onError);
    const good = [q.defer(insert("a")), q.defer(insert("b"))];
    const bad = q.defer(insert("a")); // PRIMARY KEY: "a" is already in this batch
    const badState = track(bad);
    const outcome = bad.then(
      () => "committed",
      (err: unknown) => err,
    );
    await Promise.all(good);
    expect(seen()).toEqual(["a", "b"]);
    expect(onError).not.toHaveBeenCalled();
    expect(badState.state).toBe("pending");
    // Batches 2 and 3 (see the next test for why they are driven by hand).
    q.flush();
    expect(onError).not.toHaveBeenCalled();
    q.flush();
    expect(await outcome).toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(await outcome);
    q.flush();
    expect(onError).toHaveBeenCalledTimes(1);
    expect(seen()).toEqual(["a", "b"]);
  });

  // BUG (src/stores/sqlite/write-queue.ts, drain): a write that fails is put back in
  // the queue but no flush is scheduled for it, so it is retried (and its
  // promise settled) only when some unrelated write or read comes along. On an
  // idle gateway a failed small-blob put leaves `written` pending for good.
  // Flip to `it` once drain (or flush) schedules a retry when it re-queues.
  it("retries a re-queued write by itself, with no other activity", async () => {
    const q = createWriteQueue(db, () => {});
    const bad = track(q.defer(insert(null)));
    for (let turn = 0; turn < 10; turn++) await nextTurn();
    expect(bad.state).toBe("rejected");
  });

  it("flush() never throws when the commit fails: reports it and keeps the queue for the next turn", async () => {
    // A deferred foreign key is checked at COMMIT, so this batch fails as a
    // whole (not write by write) until the parent row exists.
    db.exec(`CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (p TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)`);
    const onError = vi.fn();
    const q = createWriteQueue(db, onError);
    const written = [
      q.defer(insert("a")),
      q.defer(() => {
        db.prepare("INSERT INTO child (p) VALUES ('x')").run();
      }),
    ];
    expect(() => q.flush()).not.toThrow();
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]?.[0]).toMatchObject({ code: "SQLITE_CONSTRAINT_FOREIGNKEY" });
    expect(seen()).toEqual([]);
    // The flush the defers scheduled fails the same way, and schedules another.
    await nextTurn();
    expect(onError).toHaveBeenCalledTimes(2);
    other.prepare("INSERT INTO parent (id) VALUES ('x')").run();
    // The queue was kept and is retried, unprompted, once the parent exists.
    await Promise.all(written);
    expect(seen()).toEqual(["a"]);
    expect(onError).toHaveBeenCalledTimes(2);
  });

  // BUG (src/stores/sqlite/write-queue.ts, commit's catch): when a write failed on its
  // own in a batch whose COMMIT then fails, drain() has already re-queued it and
  // the catch puts the whole batch back too: it is queued twice, so it is given
  // up after 2 batches and onError hears of it twice.
  it("a write that failed in a batch whose commit failed is still queued once", () => {
    db.exec(`CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (p TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)`);
    const onError = vi.fn();
    const q = createWriteQueue(db, onError);
    const bad = q.defer(insert(null));
    bad.catch(() => {});
    void q.defer(() => {
      db.prepare("INSERT INTO child (p) VALUES ('x')").run(); // fails the COMMIT
    });
    q.flush(); // batch 1: the null fails alone, then the commit fails
    other.prepare("INSERT INTO parent (id) VALUES ('x')").run();
    q.flush(); // batch 2
    q.flush(); // batch 3: given up
    q.flush();
    const notNull = onError.mock.calls.filter(([err]) => /NOT NULL/.test(String(err)));
    expect(notNull).toHaveLength(1);
  });

  it("flush() on a closed database never throws and reports the failure", () => {
    // Faked so the retry it schedules (forever, the database being gone) never runs.
    vi.useFakeTimers({ toFake: ["setImmediate"] });
    const onError = vi.fn();
    const q = createWriteQueue(db, onError);
    void q.defer(insert("a"));
    db.close();
    expect(() => q.flush()).not.toThrow();
    expect(onError).toHaveBeenCalledTimes(1);
    // The flush the defer scheduled fails too, and schedules the next try.
    vi.runOnlyPendingTimers();
    expect(onError).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(1);
    vi.clearAllTimers();
  });

  it("close() commits what is queued, then refuses new writes without scheduling anything", async () => {
    const q = createWriteQueue(db);
    const queued = q.defer(insert("a"));
    q.close();
    await expect(queued).resolves.toBeUndefined();
    expect(seen()).toEqual(["a"]);
    await expect(q.defer(insert("b"))).rejects.toThrow(/closed/);
    await nextTurn();
    expect(seen()).toEqual(["a"]);
  });

  it("flush() commits the queue at once: reads after it see every write before it", () => {
    const q = createWriteQueue(db);
    void q.defer(insert("a"));
    q.flush();
    expect(seen(db)).toEqual(["a"]);
    expect(seen()).toEqual(["a"]);
  });
});
