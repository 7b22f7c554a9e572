// A PNG's size and alpha from its first chunks, without sharp: the answer's
// fields need only these, and sharp's metadata call (a trip to libuv's thread
// pool and libvips) was the largest single cost of a small b64_json answer.
// Anything unusual (not a PNG, an eXIf chunk that might rotate it, a damaged
// header) returns undefined, and the caller asks sharp.
import type { ImageInfo } from "./source.js";

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Colour types 4 (grey + alpha) and 6 (RGBA) carry alpha; others may by tRNS. */
const alphaColourTypes = new Set([4, 6]);
const validColourTypes = new Set([0, 2, 3, 4, 6]);

export function pngHeader(bytes: Buffer): ImageInfo | undefined {
  if (bytes.length < 33 || !bytes.subarray(0, 8).equals(signature)) return undefined;
  if (bytes.readUInt32BE(8) !== 13 || bytes.toString("latin1", 12, 16) !== "IHDR") return undefined;
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const colourType = bytes[25] as number;
  if (width === 0 || height === 0 || !validColourTypes.has(colourType)) return undefined;
  let hasAlpha = alphaColourTypes.has(colourType);
  // Walk the chunks before the image data: tRNS adds alpha, eXIf may rotate.
  for (let offset = 33; ; ) {
    if (offset + 8 > bytes.length) return undefined;
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString("latin1", offset + 4, offset + 8);
    if (type === "IDAT") break;
    if (type === "eXIf") return undefined;
    if (type === "tRNS") hasAlpha = true;
    offset += 12 + length;
  }
  return { format: "png", width, height, hasAlpha };
}
