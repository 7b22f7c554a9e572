import { randomBytes } from "node:crypto";

/** Opaque, unguessable record ids: `ten_…`, `key_…`, `gen_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString("base64url")}`;
}
