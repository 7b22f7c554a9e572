// Issue 10, finding 6 ("Wrong types reported as missing"), as the OpenAI SDK
// sees it: a value of the wrong type is a 400 invalid_type naming the parameter
// in OpenAI's words, not "Missing required parameter", and nothing is submitted.
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeAll(async () => {
  gw = await buildTestApp();
});
afterAll(async () => {
  await gw?.close();
});

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe("wrong types reported as missing (regression)", () => {
  it.each([
    [
      { prompt: "x", n: "2" },
      "n",
      "Invalid type for 'n': expected an integer, but got a string instead.",
    ],
    [
      { prompt: 123 },
      "prompt",
      "Invalid type for 'prompt': expected a string, but got an integer instead.",
    ],
    [
      { prompt: "x", size: 1024 },
      "size",
      "Invalid type for 'size': expected a string, but got an integer instead.",
    ],
    [
      { prompt: "x", stream: "true" },
      "stream",
      "Invalid type for 'stream': expected a boolean, but got a string instead.",
    ],
  ])("images.generate(%j) → 400 invalid_type on %s", async (body, param, message) => {
    const err = await apiError(
      gw.client.images.generate(body as unknown as OpenAI.Images.ImageGenerateParamsNonStreaming),
    );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message,
      type: "invalid_request_error",
      param,
      code: "invalid_type",
    });
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("a multipart n that is not a number says it could not be converted", async () => {
    const err = await apiError(
      gw.client.images.edit({
        model: "gpt-image-2",
        prompt: "p",
        image: await toFile(Buffer.concat([pngSignature, Buffer.alloc(64)]), "in.png"),
        n: "two" as unknown as number,
      }),
    );
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message:
        "Invalid type for 'n': expected an integer, but got a string value that could not be converted into an integer.",
      type: "invalid_request_error",
      param: "n",
      code: "invalid_type",
    });
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("a missing prompt is still missing, and n out of range names the bound", async () => {
    const missing = await gw.app.inject({
      method: "POST",
      url: "/v1/images/generations",
      headers: { authorization: `Bearer ${gw.apiKey}` },
      payload: { model: "gpt-image-2", n: 2 },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toEqual({
      error: {
        message: "Missing required parameter: 'prompt'.",
        type: "invalid_request_error",
        param: "prompt",
        code: "missing_required_parameter",
      },
    });
    const zero = await apiError(gw.client.images.generate({ prompt: "p", n: 0 }));
    expect(zero.error).toEqual({
      message:
        "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
      type: "invalid_request_error",
      param: "n",
      code: "integer_below_min_value",
    });
    const format = await apiError(
      gw.client.images.generate({ prompt: "p", response_format: "gif" as "url" }),
    );
    expect(format.error).toEqual({
      message: "Invalid value: 'gif'. Supported values are: 'url' and 'b64_json'.",
      type: "invalid_request_error",
      param: "response_format",
      code: "invalid_value",
    });
    expect(gw.sim.submits).toHaveLength(0);
  });
});
