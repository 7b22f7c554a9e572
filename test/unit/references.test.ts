import { describe, expect, it } from "vitest";
import { resolveDelivery } from "../../src/generation/references.js";
import { formToBody } from "../../src/http/uploads.js";

describe("reference delivery", () => {
  it.each([
    ["https://images.example.com", "url"],
    ["https://gateway.example.com:8443/base", "url"],
    ["http://images.example.com", "data"],
    ["https://localhost:8080", "data"],
    ["https://127.0.0.1", "data"],
    ["https://10.1.2.3", "data"],
    ["https://192.168.0.10", "data"],
    ["https://172.20.0.5", "data"],
    ["https://172.32.0.5", "url"],
    ["https://gateway.internal", "data"],
    ["https://[::1]:8080", "data"],
  ])("auto with IMAGEGATE_PUBLIC_URL=%s is %s", (publicUrl, expected) => {
    expect(resolveDelivery("auto", publicUrl)).toBe(expected);
  });

  it("an explicit setting wins", () => {
    expect(resolveDelivery("data", "https://images.example.com")).toBe("data");
    expect(resolveDelivery("url", "http://localhost:8080")).toBe("url");
  });
});

describe("multipart fields", () => {
  it("converts numbers and booleans as the OpenAI SDK sends them, and leaves the rest", () => {
    expect(
      formToBody({
        n: "2",
        output_compression: "80",
        stream: "true",
        prompt: "42",
        size: "1024x1024",
        partial_images: "two",
      }),
    ).toEqual({
      n: 2,
      output_compression: 80,
      stream: true,
      prompt: "42",
      size: "1024x1024",
      partial_images: "two",
    });
  });
});
