// The answer's fields in OpenAI's vocabulary (issue 11): what was delivered
// (the first image's header) wins over what was asked; upstream units never
// appear; stream events carry every field OpenAI's schema requires.
import { describe, expect, it } from "vitest";
import {
  answerFields,
  type DeliveredImage,
  type Echo,
  eventFields,
} from "../../src/catalog/answer.js";

const png = (width: number, height: number, hasAlpha = false): DeliveredImage => ({
  format: "png",
  width,
  height,
  hasAlpha,
});

describe("answerFields", () => {
  it.each([
    // [echo, delivered, sniffed, fields]
    [{}, png(1024, 1024), "png", { background: "opaque", output_format: "png", size: "1024x1024" }],
    [
      { size: "1536x864", quality: "high" },
      png(2048, 1152),
      "png",
      { background: "opaque", output_format: "png", size: "2048x1152", quality: "high" },
    ],
    [
      { background: "transparent", output_format: "webp" },
      { format: "webp", width: 8, height: 8, hasAlpha: true },
      "webp",
      { background: "transparent", output_format: "webp", size: "8x8" },
    ],
    // Asked transparent, delivered without alpha: it is opaque.
    [
      { background: "transparent" },
      png(8, 8),
      "png",
      { background: "opaque", output_format: "png", size: "8x8" },
    ],
    // Alpha without asking: the model cut it out.
    [{}, png(8, 8, true), "png", { background: "transparent", output_format: "png", size: "8x8" }],
    [
      { output_format: "png" },
      { format: "jpeg", width: 8, height: 8, hasAlpha: false },
      "jpeg",
      { background: "opaque", output_format: "jpeg", size: "8x8" },
    ],
    // A GIF has no OpenAI format name.
    [
      {},
      { format: "gif", width: 8, height: 8, hasAlpha: true },
      "gif",
      { background: "transparent", size: "8x8" },
    ],
    // An unreadable header: what was asked, the sniffed format, png by default.
    [{ size: "1024x1024" }, undefined, "png", { output_format: "png", size: "1024x1024" }],
    [{ output_format: "webp" }, undefined, undefined, { output_format: "webp" }],
    [{}, undefined, undefined, { output_format: "png" }],
    [{ background: "opaque" }, undefined, "jpeg", { background: "opaque", output_format: "jpeg" }],
    // Records of older versions held the upstream's units: never answered.
    [
      { size: "16:9", quality: "2K", background: "auto" },
      undefined,
      "png",
      { output_format: "png" },
    ],
    [
      { quality: "auto" },
      png(8, 8),
      "png",
      { background: "opaque", output_format: "png", size: "8x8" },
    ],
  ] as [Echo, DeliveredImage | undefined, string | undefined, object][])(
    "%j with %j (%s) → %j",
    (echo, delivered, sniffed, fields) => {
      expect(answerFields(echo, delivered, sniffed)).toEqual(fields);
    },
  );

  it("lists the fields in OpenAI's order", () => {
    const fields = answerFields({ quality: "low" }, png(8, 8), "png");
    expect(Object.keys(fields)).toEqual(["background", "output_format", "size", "quality"]);
  });
});

describe("eventFields", () => {
  it("fills what is unknown with auto, as OpenAI's event schema allows", () => {
    expect(eventFields({ output_format: "png" })).toEqual({
      size: "auto",
      quality: "auto",
      background: "auto",
      output_format: "png",
    });
  });

  it("keeps what is known", () => {
    expect(
      eventFields({ background: "opaque", output_format: "jpeg", size: "8x8", quality: "low" }),
    ).toEqual({ size: "8x8", quality: "low", background: "opaque", output_format: "jpeg" });
  });
});
