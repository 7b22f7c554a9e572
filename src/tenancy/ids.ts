import { randomId } from "../random-ids.js";

/** Opaque, unguessable record ids: `ten_…`, `key_…`, `gen_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomId(12).toString("base64url")}`;
}
