import { randomFillSync } from "node:crypto";

// Ids are made several times per request (record, blob, request id). Each
// randomBytes() call is a trip into the CSPRNG; drawing from a pool filled 4 KiB
// at a time costs the same entropy and a fraction of the calls. Never used for
// keys or IVs, which take their own randomBytes().
const pool = Buffer.alloc(4096);
let used = pool.length;

/** `size` fresh random bytes (a copy; the pool is never handed out). */
export function randomId(size: number): Buffer {
  if (used + size > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = Buffer.from(pool.subarray(used, used + size));
  // Zeroed once taken: no id's bytes stay in the pool to be seen again.
  pool.fill(0, used, used + size);
  used += size;
  return bytes;
}
