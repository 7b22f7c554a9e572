// Group commit for the embedded database. A commit is most of the cost of a
// write, so writes nothing waits on are queued and committed together at the
// end of the event-loop turn, or with the next write that must be on disk at
// once. Readers call flush() first, so every read sees every write before it.
import type { Db } from "./database.js";

export interface WriteQueue {
  /** Queues `write`; settles once it is committed (or given up: rejected). */
  defer(write: () => void): Promise<void>;
  /**
   * Commits the queue and then `write`, in one transaction; returns what
   * `write` returns. `write`'s own failure (a constraint) is thrown after the
   * queue is committed without it; a failing commit keeps the queue.
   */
  commit<T>(write: () => T): T;
  /** Commits the queue now. Never throws: a failure is reported to onError. */
  flush(): void;
  /** Commits what is queued and refuses later writes (before the database closes). */
  close(): void;
}

interface QueuedWrite {
  write: () => void;
  attempts: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Batches a queued write may fail in before it is given up. */
const attemptsPerWrite = 3;

export function createWriteQueue(db: Db, onError?: (err: unknown) => void): WriteQueue {
  let queue: QueuedWrite[] = [];
  let scheduled = false;
  let closed = false;
  const runAll = db.transaction((writes: QueuedWrite[]) => {
    for (const queued of writes) queued.write();
  });

  // Inside a transaction. A batch that fails as a whole (one bad write) is
  // retried write by write under savepoints, so one failure costs no other
  // write. Returns the writes that went in, to settle once committed.
  function drain(): { done: QueuedWrite[]; taken: QueuedWrite[] } {
    const taken = queue;
    queue = [];
    if (taken.length === 0) return { done: taken, taken };
    try {
      runAll(taken);
      return { done: taken, taken };
    } catch {
      const done: QueuedWrite[] = [];
      for (const queued of taken) {
        try {
          db.transaction(queued.write)();
          done.push(queued);
        } catch (err) {
          queued.attempts++;
          if (queued.attempts >= attemptsPerWrite) {
            onError?.(err);
            queued.reject(err);
          } else queue.push(queued);
        }
      }
      // What went back into the queue is tried again even if nothing else comes.
      if (queue.length > 0) schedule();
      return { done, taken };
    }
  }

  function commit<T>(write?: () => T): T {
    let drained: ReturnType<typeof drain> = { done: [], taken: [] };
    let value: T | undefined;
    const failure: { err?: unknown } = {};
    try {
      db.transaction(() => {
        drained = drain();
        if (write === undefined) return;
        try {
          value = db.transaction(write)();
        } catch (err) {
          failure.err = err;
        }
      })();
    } catch (err) {
      // The whole transaction is undone: every write it took goes back, once
      // (those that failed on their own are back in the queue already).
      const requeued = new Set(queue);
      queue = [
        ...drained.taken.filter(
          (queued) => queued.attempts < attemptsPerWrite && !requeued.has(queued),
        ),
        ...queue,
      ];
      throw err;
    }
    for (const queued of drained.done) queued.resolve();
    if ("err" in failure) throw failure.err;
    return value as T;
  }

  function flush(): void {
    if (queue.length === 0) return;
    try {
      commit();
    } catch (err) {
      // The database itself is failing (disk full, locked): what is queued
      // stays queued for the next batch, and the caller's own work goes on.
      onError?.(err);
      schedule();
    }
  }

  function schedule(): void {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush();
    });
  }

  return {
    defer(write) {
      if (closed) return Promise.reject(new Error("the database is closed"));
      return new Promise<void>((resolve, reject) => {
        queue.push({ write, attempts: 0, resolve, reject });
        schedule();
      });
    },
    commit: (write) => commit(write),
    flush,
    close() {
      flush();
      closed = true;
      const left = queue;
      queue = [];
      for (const queued of left) queued.reject(new Error("the database closed first"));
    },
  };
}
