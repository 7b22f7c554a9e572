// Deterministic, decodable image bytes for simulated results: a small PNG whose
// colour depends on (task, index), optionally padded with an ancillary chunk to
// a target size; tiny JPEG and WebP files varied by a comment/extra chunk.
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

export type SimImageFormat = "png" | "jpeg" | "webp";

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG uses it (node:zlib only has crc32 from Node 22). */
export function crc32(...parts: Buffer[]): number {
  let crc = 0xffffffff;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      crc = (crcTable[(crc ^ (part[i] as number)) & 0xff] as number) ^ (crc >>> 8);
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const name = Buffer.from(type, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(name, data));
  return Buffer.concat([length, name, data, crc]);
}

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const side = 8;

function colour(seed: string): [number, number, number] {
  const digest = createHash("sha256").update(seed).digest();
  return [digest[0] as number, digest[1] as number, digest[2] as number];
}

// Padding chunks are the same for every image of a size: build each size once.
const paddingCache = new Map<number, Buffer>();

function padding(bytes: number): Buffer {
  let cached = paddingCache.get(bytes);
  if (!cached) {
    // "imPd": ancillary (lower-case first letter), private, safe to copy.
    cached = chunk("imPd", Buffer.alloc(Math.max(0, bytes), 0x5a));
    paddingCache.set(bytes, cached);
  }
  return cached;
}

/** A valid 8×8 RGB PNG, as parts (head, padding, tail) so large ones are not copied. */
export function pngParts(seed: string, targetBytes = 0): Buffer[] {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const [r, g, b] = colour(seed);
  const row = Buffer.alloc(1 + side * 3);
  for (let x = 0; x < side; x++) row.set([r, g, b], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: side }, () => row));
  const head = Buffer.concat([pngSignature, chunk("IHDR", header)]);
  const tail = Buffer.concat([chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
  const room = targetBytes - head.length - tail.length - 12;
  return room > 0 ? [head, padding(room), tail] : [head, tail];
}

// An 8×8 baseline (Huffman) JPEG made with cjpeg, and the VP8L bitstream of an
// 8×8 lossless WebP made with cwebp; both decode with libjpeg-turbo / libwebp.
const tinyJpeg = Buffer.from(
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAIAAgDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAP/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFAEBAAAAAAAAAAAAAAAAAAAABv/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAMAwEAAhEDEQA/ALgCBU//2Q==",
  "base64",
);
const vp8lBitstream = Buffer.from("LwfAAQAHULwiF6X/gYjofwA=", "base64");

/** The JPEG with a COM segment naming the image, right after SOI, so each differs. */
function jpeg(seed: string): Buffer {
  const comment = Buffer.from(`imagegate-sim ${seed}`, "latin1");
  const marker = Buffer.from([0xff, 0xfe, 0, 0]);
  marker.writeUInt16BE(comment.length + 2, 2);
  return Buffer.concat([tinyJpeg.subarray(0, 2), marker, comment, tinyJpeg.subarray(2)]);
}

function riffChunk(type: string, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.write(type, 0, "latin1");
  header.writeUInt32LE(data.length, 4);
  // RIFF chunks are padded to an even size; the pad byte is not counted.
  return Buffer.concat(data.length % 2 ? [header, data, Buffer.alloc(1)] : [header, data]);
}

/**
 * Extended-format WebP (VP8X) so that an unknown chunk naming the image is
 * allowed by the spec: decoders skip it.
 */
function webp(seed: string): Buffer {
  const vp8x = Buffer.alloc(10);
  vp8x.writeUIntLE(side - 1, 4, 3); // canvas width - 1
  vp8x.writeUIntLE(side - 1, 7, 3); // canvas height - 1
  const body = Buffer.concat([
    Buffer.from("WEBP", "latin1"),
    riffChunk("VP8X", vp8x),
    riffChunk("VP8L", vp8lBitstream),
    riffChunk("IGSM", Buffer.from(`imagegate-sim ${seed}`, "latin1")),
  ]);
  return riffChunk("RIFF", body);
}

export const contentTypes: Readonly<Record<SimImageFormat, string>> = {
  png: "image/png",
  jpeg: "image/jpeg",
  webp: "image/webp",
};

/** The bytes of result `index` of a task, as parts to write in order. */
export function imageParts(
  taskId: string,
  index: number,
  format: SimImageFormat,
  targetBytes = 0,
): Buffer[] {
  const seed = `${taskId}#${index}`;
  if (format === "jpeg") return [jpeg(seed)];
  if (format === "webp") return [webp(seed)];
  return pngParts(seed, targetBytes);
}
