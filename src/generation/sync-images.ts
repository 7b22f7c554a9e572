// An image a synchronous upstream answered inline (base64) as a download, so
// that it is stored, capped and sniffed exactly as an async task's result is.
import { Readable } from "node:stream";
import type { Download } from "../providers/failures.js";
import { UpstreamError } from "../providers/failures.js";

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

export function syncImageDownload(b64: string): Download {
  // Whitespace is tolerated (some servers wrap lines); anything else is not base64.
  const compact = b64.replace(/\s+/g, "");
  if (compact.length % 4 === 1 || !base64Pattern.test(compact)) {
    throw new UpstreamError("gone", "the upstream's b64_json is not base64");
  }
  const bytes = Buffer.from(compact, "base64");
  return { contentType: undefined, contentLength: bytes.length, body: Readable.from([bytes]) };
}
