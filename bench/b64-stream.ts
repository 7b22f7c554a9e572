// Reads a b64_json answer as a stream, without holding it: the large-result
// benchmark checks 50 × 27 MB answers without the client's memory or time
// getting in the way.

/**
 * Streams one b64_json answer without keeping it: counts its bytes, and checks
 * that the envelope around the base64 parses as JSON. With `decode`, also
 * checks the base64 alphabet and decodes it, returning the decoded size and
 * first bytes.
 */
export async function consumeImagesResponse(
  body: AsyncIterable<Buffer>,
  decode: boolean,
): Promise<{ received: number; base64Chars: number; decoded: number; head: Buffer }> {
  const marker = '"b64_json":"';
  let state: "head" | "base64" | "tail" = "head";
  let headText = "";
  let tailText = "";
  let received = 0;
  let base64Chars = 0;
  let decoded = 0;
  let carry = "";
  let head = Buffer.alloc(0);
  const decodeText = (text: string) => {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error("b64_json is not base64");
    const bytes = Buffer.from(text, "base64");
    if (head.length < 8) head = Buffer.concat([head, bytes.subarray(0, 8 - head.length)]);
    decoded += bytes.length;
  };
  for await (const chunk of body) {
    received += chunk.length;
    let rest = chunk;
    if (state === "head") {
      headText += rest.toString("latin1");
      const at = headText.indexOf(marker);
      if (at < 0) {
        if (headText.length > 64 * 1024) throw new Error("no b64_json in the first 64 KiB");
        continue;
      }
      const start = at + marker.length;
      rest = Buffer.from(headText.slice(start), "latin1");
      headText = headText.slice(0, start);
      state = "base64";
    }
    if (state === "base64") {
      // Base64 has no '"': the first one closes the string.
      const end = rest.indexOf(0x22);
      const piece = end < 0 ? rest : rest.subarray(0, end);
      base64Chars += piece.length;
      if (decode) {
        const text = carry + piece.toString("latin1");
        const usable = end < 0 ? text.length - (text.length % 4) : text.length;
        decodeText(text.slice(0, usable));
        carry = text.slice(usable);
      }
      if (end < 0) continue;
      rest = rest.subarray(end);
      state = "tail";
    }
    tailText += rest.toString("latin1");
    if (tailText.length > 64 * 1024) throw new Error("more than 64 KiB after the base64");
  }
  if (state !== "tail") throw new Error(`the answer ended inside its ${state}`);
  // `..."b64_json":"` + `"}],...}`: the envelope with an empty image.
  const envelope = JSON.parse(headText + tailText) as { created?: unknown; data?: unknown[] };
  if (typeof envelope.created !== "number" || envelope.data?.length !== 1) {
    throw new Error("the envelope is not an images response with one image");
  }
  return { received, base64Chars, decoded, head };
}
