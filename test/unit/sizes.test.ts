// OpenAI's size rules (issue 11): GPT Image 2's free sizes, the per-model lists
// of the DALL·E names, and the nearest size the upstream's GPT Image 2 makes.
import { describe, expect, it } from "vitest";
import {
  freeSizeProblem,
  freeSizeRules,
  nearestFreeSize,
  nearestGptImageSize,
  parseSize,
  sizeRules,
} from "../../src/catalog/sizes.js";

const size = (text: string) => {
  const parsed = parseSize(text);
  if (parsed === undefined) throw new Error(`not a size: ${text}`);
  return parsed;
};

describe("GPT Image 2's free-size rules", () => {
  it("are OpenAI's published bounds", () => {
    expect(freeSizeRules).toEqual({
      multipleOf: 16,
      maxEdge: 3840,
      maxAspect: 3,
      minPixels: 655_360,
      maxPixels: 8_294_400,
    });
  });

  it.each([
    "1024x1024",
    "1536x1024",
    "1024x1536",
    "2048x1152",
    "3840x2160",
    "2160x3840",
    "1536x864",
    "2560x1440",
    "2048x2048",
    "1024x640",
    "2880x2880",
    "3840x1280",
    "1280x3840",
    "1792x1024",
    "1024x1792",
  ])("%s keeps them", (text) => {
    expect(freeSizeProblem(size(text))).toBeUndefined();
  });

  it.each([
    ["1000x1000", "multiples of 16"],
    ["1920x1080", "multiples of 16"],
    ["4096x2160", "at most 3840"],
    ["3856x1296", "at most 3840"],
    ["3072x1008", "between 1:3 and 3:1"],
    ["1008x3072", "between 1:3 and 3:1"],
    ["512x512", "at least 655,360"],
    ["1008x640", "at least 655,360"],
    ["3840x2176", "at most 8,294,400"],
    ["0x0", "at least"],
  ])("%s breaks them: %s", (text, why) => {
    expect(freeSizeProblem(size(text))).toContain(why);
  });

  it.each([
    ["1000x1000", "1008x1008"],
    ["256x256", "816x816"],
    ["4096x4096", "2880x2880"],
    ["5000x1000", "3840x1280"],
    ["1920x1080", "1920x1088"],
  ])("the nearest size that works for %s is %s", (text, nearest) => {
    const found = nearestFreeSize(size(text));
    expect(found && `${found.width}x${found.height}`).toBe(nearest);
  });

  it("a suggestion always keeps the rules", () => {
    for (let width = 16; width <= 6000; width += 97) {
      for (let height = 16; height <= 6000; height += 89) {
        const found = nearestFreeSize({ width, height });
        expect(found && freeSizeProblem(found)).toBeUndefined();
      }
    }
  });
});

describe("the sizes each OpenAI model name takes", () => {
  it("are OpenAI's own lists for DALL·E and free sizes for GPT image names", () => {
    expect(sizeRules["dall-e-2"]).toMatchObject({
      sizes: ["256x256", "512x512", "1024x1024"],
      default: "1024x1024",
    });
    expect(sizeRules["dall-e-3"]).toMatchObject({
      sizes: ["1024x1024", "1792x1024", "1024x1792"],
      default: "1024x1024",
    });
    expect(sizeRules["gpt-image"]).toMatchObject({ kind: "free", default: "auto" });
  });
});

describe("the nearest size GPT Image 2 makes (by aspect, then area)", () => {
  it.each([
    // Its own sizes are made as they are.
    ["1024x1024", "1024x1024"],
    ["1536x1024", "1536x1024"],
    ["1024x1536", "1024x1536"],
    ["2048x1152", "2048x1152"],
    ["3840x2160", "3840x2160"],
    ["2160x3840", "2160x3840"],
    // DALL·E sizes.
    ["256x256", "1024x1024"],
    ["512x512", "1024x1024"],
    ["1792x1024", "2048x1152"],
    ["1024x1792", "1024x1536"],
    // 16:9 at every scale: the nearest area of that aspect.
    ["1280x720", "2048x1152"],
    ["1536x864", "2048x1152"],
    ["2560x1440", "2048x1152"],
    ["3200x1808", "3840x2160"],
    // Other aspects: the nearest one, not the largest.
    ["1024x768", "1536x1024"],
    ["768x1024", "1024x1536"],
    ["2048x2048", "1024x1024"],
    ["2304x768", "2048x1152"],
    ["768x2304", "1024x1536"],
    ["1152x2048", "1024x1536"],
  ])("%s → %s", (asked, made) => {
    expect(nearestGptImageSize(size(asked))).toBe(made);
  });
});
