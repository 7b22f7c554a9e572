// The OpenAI-compatible synchronous provider alone: the catalogue's submit body
// as an images call (table-driven, pure), and the client against an undici
// MockAgent with the network disabled — what it sends, how each answer and
// failure is classified (the same kinds as the async submit, so failover and
// "never pay twice" read the same), and where the credential goes.
import type { Readable } from "node:stream";
import { errors, MockAgent } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UpstreamError, type UpstreamErrorKind } from "../../src/providers/failures.js";
import { FileDataUri } from "../../src/providers/json-body.js";
import { openaiImagesCall } from "../../src/providers/openai/body.js";
import {
  createOpenAIImagesClient,
  type SyncImagesClient,
} from "../../src/providers/openai/client.js";
import { isSyncTaskId, openaiDefaultModels } from "../../src/providers/openai/models.js";

describe("openaiImagesCall", () => {
  const cases: {
    name: string;
    submit: Record<string, unknown>;
    path: "/images/generations" | "/images/edits";
    body: Record<string, unknown>;
  }[] = [
    {
      name: "a generation is POST /images/generations with the fields as they are",
      submit: { model: "gpt-image-2", prompt: "a cat", n: 2, size: "1024x1024", quality: "high" },
      path: "/images/generations",
      body: { model: "gpt-image-2", prompt: "a cat", n: 2, size: "1024x1024", quality: "high" },
    },
    {
      name: "one reference (a string) is an edit with one image",
      submit: { model: "gpt-image-2", prompt: "bluer", image_url: "https://cdn.example/a.png" },
      path: "/images/edits",
      body: {
        model: "gpt-image-2",
        prompt: "bluer",
        images: [{ image_url: "https://cdn.example/a.png" }],
      },
    },
    {
      name: "several references are an edit with the images in order",
      submit: {
        model: "gpt-image-2",
        prompt: "merge",
        image_url: ["https://cdn.example/a.png", "data:image/png;base64,iVBORw0KGgo=", "c"],
      },
      path: "/images/edits",
      body: {
        model: "gpt-image-2",
        prompt: "merge",
        images: [
          { image_url: "https://cdn.example/a.png" },
          { image_url: "data:image/png;base64,iVBORw0KGgo=" },
          { image_url: "c" },
        ],
      },
    },
    {
      name: "an empty reference list is still an edit (never silently a generation)",
      submit: { model: "gpt-image-2", prompt: "p", image_url: [] },
      path: "/images/edits",
      body: { model: "gpt-image-2", prompt: "p", images: [] },
    },
    {
      name: "extra_body is spread into the body",
      submit: {
        model: "gpt-image-2",
        prompt: "p",
        extra_body: { seed: 7, watermark: false, nested: { a: 1 } },
      },
      path: "/images/generations",
      body: { model: "gpt-image-2", prompt: "p", seed: 7, watermark: false, nested: { a: 1 } },
    },
    {
      name: "extra_body never overrides the request's own fields",
      submit: {
        model: "gpt-image-2",
        prompt: "mine",
        extra_body: { model: "other-model", prompt: "theirs", style: "vivid" },
      },
      path: "/images/generations",
      body: { model: "gpt-image-2", prompt: "mine", style: "vivid" },
    },
    {
      name: "extra_body and references together: an edit with both",
      submit: {
        model: "gpt-image-2",
        prompt: "p",
        image_url: ["https://cdn.example/a.png"],
        extra_body: { input_fidelity: "high" },
      },
      path: "/images/edits",
      body: {
        model: "gpt-image-2",
        prompt: "p",
        input_fidelity: "high",
        images: [{ image_url: "https://cdn.example/a.png" }],
      },
    },
    {
      name: "an extra_body that is not an object adds nothing",
      submit: { model: "gpt-image-2", prompt: "p", extra_body: "seed=7" },
      path: "/images/generations",
      body: { model: "gpt-image-2", prompt: "p" },
    },
  ];

  it.each(cases)("$name", ({ submit, path, body }) => {
    const before = structuredClone(submit);
    const call = openaiImagesCall(submit);
    expect(call.path).toBe(path);
    expect(call.body).toStrictEqual(body);
    expect(call.body).not.toHaveProperty("image_url");
    expect(call.body).not.toHaveProperty("extra_body");
    // Pure: the catalogue's body is left as it was.
    expect(submit).toStrictEqual(before);
  });

  it("keeps an uploaded file (FileDataUri) as the image_url object, for the streamed encoder", () => {
    const file = new FileDataUri("/tmp/none.png", "image/png", 10);
    const call = openaiImagesCall({ model: "gpt-image-2", prompt: "p", image_url: [file] });
    expect(call.body.images).toEqual([{ image_url: file }]);
    expect((call.body.images as { image_url: unknown }[])[0]?.image_url).toBe(file);
  });
});

describe("openai models", () => {
  it("serves gpt-image-2 by default and names its calls sync_…", () => {
    expect(openaiDefaultModels).toEqual(["gpt-image-2"]);
    expect(isSyncTaskId("sync_abc")).toBe(true);
    expect(isSyncTaskId("aiimg_abc")).toBe(false);
    expect(isSyncTaskId("async_sync_abc")).toBe(false);
  });
});

const origin = "https://api.openai.example";
const baseUrl = `${origin}/v1`;
const key = "sk-channel-key";
const png = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
const json = { "content-type": "application/json" };

let agent: MockAgent;
let client: SyncImagesClient;

beforeEach(() => {
  agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  client = createOpenAIImagesClient({ dispatcher: agent, maxBodyBytes: 64 * 1024 });
});

afterEach(async () => {
  await agent.close();
});

const calls = () => agent.getCallHistory()?.calls() ?? [];

/** The UpstreamError a call fails with (any other outcome fails the test). */
async function upstreamError(call: Promise<unknown>): Promise<UpstreamError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

const errorBody = (message: string, code: string | null) => ({
  error: { message, type: "invalid_request_error", param: null, code },
});

describe("createOpenAIImagesClient: create()", () => {
  it("posts a generation as JSON with the channel's key and returns b64 images", async () => {
    agent
      .get(origin)
      .intercept({
        path: "/v1/images/generations",
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          accept: "application/json",
        },
      })
      .reply(
        200,
        { created: 1, data: [{ b64_json: "AAAA" }, { b64_json: "BBBB", revised_prompt: "x" }] },
        { headers: json },
      );
    const images = await client.create(baseUrl, key, {
      model: "gpt-image-2",
      prompt: "a cat",
      n: 2,
      extra_body: { seed: 1 },
    });
    expect(images).toEqual([{ b64: "AAAA" }, { b64: "BBBB" }]);
    const [call] = calls();
    expect(calls()).toHaveLength(1);
    expect(JSON.parse(call?.body ?? "")).toEqual({
      model: "gpt-image-2",
      prompt: "a cat",
      n: 2,
      seed: 1,
    });
    expect(call?.headers).toMatchObject({
      "content-length": String(Buffer.byteLength(call?.body ?? "")),
    });
  });

  it("returns url images as urls, and skips empty items", async () => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .reply(
        200,
        {
          data: [
            { url: "https://files.example/a.png?sig=1" },
            {},
            null,
            { b64_json: "" },
            { b64_json: "CCCC" },
          ],
        },
        { headers: json },
      );
    const images = await client.create(baseUrl, key, { model: "gpt-image-2", prompt: "p" });
    expect(images).toEqual([{ url: "https://files.example/a.png?sig=1" }, { b64: "CCCC" }]);
  });

  it("posts references to /images/edits as images: [{image_url}], without image_url", async () => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/edits", method: "POST" })
      .reply(200, { data: [{ b64_json: "AAAA" }] }, { headers: json });
    await client.create(`${baseUrl}/`, key, {
      model: "gpt-image-2",
      prompt: "p",
      image_url: ["https://cdn.example/1.png", "https://cdn.example/2.png"],
    });
    const sent = JSON.parse(calls()[0]?.body ?? "") as Record<string, unknown>;
    expect(sent.images).toEqual([
      { image_url: "https://cdn.example/1.png" },
      { image_url: "https://cdn.example/2.png" },
    ]);
    expect(sent).not.toHaveProperty("image_url");
  });

  it("an answer with an empty data list is no images (the use case decides)", async () => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .reply(200, { data: [] }, { headers: json });
    expect(await client.create(baseUrl, key, { model: "gpt-image-2", prompt: "p" })).toEqual([]);
  });

  const failures: {
    name: string;
    status: number;
    body: unknown;
    headers?: Record<string, string>;
    kind: UpstreamErrorKind;
    code?: string;
    retryAfterMs?: number;
  }[] = [
    {
      name: "401 (wrong key) is refused",
      status: 401,
      body: errorBody("Incorrect API key provided.", "invalid_api_key"),
      kind: "refused",
      code: "invalid_api_key",
    },
    {
      name: "403 is refused",
      status: 403,
      body: errorBody("Project does not have access to model", "model_not_allowed"),
      kind: "refused",
      code: "model_not_allowed",
    },
    {
      name: "400 (moderation) is refused",
      status: 400,
      body: errorBody("Your request was rejected by the safety system.", "moderation_blocked"),
      kind: "refused",
      code: "moderation_blocked",
    },
    {
      name: "413 is refused",
      status: 413,
      body: errorBody("Request body too large.", "request_too_large"),
      kind: "refused",
    },
    {
      name: "429 with retry-after is rate_limited, with the wait",
      status: 429,
      body: errorBody("Rate limit reached", "rate_limit_exceeded"),
      headers: { "retry-after": "7" },
      kind: "rate_limited",
      code: "rate_limit_exceeded",
      retryAfterMs: 7_000,
    },
    {
      name: "429 without retry-after is rate_limited",
      status: 429,
      body: errorBody("You exceeded your current quota", "insufficient_quota"),
      kind: "rate_limited",
    },
    {
      name: "500 is ambiguous (it may have been billed)",
      status: 500,
      body: { error: { message: "The server had an error", type: "server_error" } },
      kind: "ambiguous",
    },
    {
      name: "502 with an HTML page is ambiguous",
      status: 502,
      body: "<html>bad gateway</html>",
      kind: "ambiguous",
    },
    {
      name: "503 is ambiguous",
      status: 503,
      body: "",
      kind: "ambiguous",
    },
  ];

  it.each(failures)("$name", async (failure) => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .reply(failure.status, failure.body as object, {
        headers: { ...json, ...failure.headers },
      });
    const err = await upstreamError(
      client.create(baseUrl, key, { model: "gpt-image-2", prompt: "p" }),
    );
    expect(err.kind).toBe(failure.kind);
    expect(err.status).toBe(failure.status);
    if (failure.code !== undefined) expect(err.code).toBe(failure.code);
    if (failure.retryAfterMs !== undefined) expect(err.retryAfterMs).toBe(failure.retryAfterMs);
    else expect(err.retryAfterMs).toBeUndefined();
    // The key never shows in what may be logged.
    expect(err.message).not.toContain(key);
  });

  it.each([
    ["a JSON answer without a data list", { created: 1, images: [] }],
    ["a data field that is not a list", { data: { b64_json: "AAAA" } }],
    ["an answer that is not JSON", "<html>ok</html>"],
  ])("200 with %s is ambiguous", async (_name, body) => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .reply(200, body as object, { headers: json });
    const err = await upstreamError(
      client.create(baseUrl, key, { model: "gpt-image-2", prompt: "p" }),
    );
    expect(err.kind).toBe("ambiguous");
  });

  it.each<[string, Error, UpstreamErrorKind]>([
    [
      "connection refused (nothing sent) is unreachable",
      Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:443"), { code: "ECONNREFUSED" }),
      "unreachable",
    ],
    [
      "DNS failure (nothing sent) is unreachable",
      Object.assign(new Error("getaddrinfo ENOTFOUND api.openai.example"), { code: "ENOTFOUND" }),
      "unreachable",
    ],
    ["a connect timeout is unreachable", new errors.ConnectTimeoutError(), "unreachable"],
    [
      "a socket cut after sending is ambiguous",
      new errors.SocketError("other side closed"),
      "ambiguous",
    ],
    ["a headers timeout is ambiguous", new errors.HeadersTimeoutError(), "ambiguous"],
    ["a body timeout is ambiguous", new errors.BodyTimeoutError(), "ambiguous"],
    [
      "a connection reset is ambiguous",
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      "ambiguous",
    ],
  ])("%s", async (_name, error, kind) => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .replyWithError(error);
    const err = await upstreamError(
      client.create(baseUrl, key, { model: "gpt-image-2", prompt: "p" }),
    );
    expect(err.kind).toBe(kind);
    expect(err.cause).toBe(error);
  });

  it("refuses a body over maxBodyBytes as local (413) without sending anything", async () => {
    // An interceptor that would answer: the call must still not reach it.
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .reply(200, { data: [{ b64_json: "AAAA" }] }, { headers: json });
    const err = await upstreamError(
      client.create(baseUrl, key, { model: "gpt-image-2", prompt: "x".repeat(70 * 1024) }),
    );
    expect(err.kind).toBe("local");
    expect(err.status).toBe(413);
    expect(calls()).toHaveLength(0);
    expect(agent.pendingInterceptors()).toHaveLength(1);
  });

  it("counts an uploaded reference at its encoded size: too large is local, the file is never read", async () => {
    // A file that does not exist: reading it would fail differently.
    const file = new FileDataUri("/nonexistent/imagegate/ref.png", "image/png", 1024 * 1024);
    const err = await upstreamError(
      client.create(baseUrl, key, { model: "gpt-image-2", prompt: "p", image_url: [file] }),
    );
    expect(err.kind).toBe("local");
    expect(err.status).toBe(413);
    expect(calls()).toHaveLength(0);
  });

  it("a body just under maxBodyBytes is sent", async () => {
    agent
      .get(origin)
      .intercept({ path: "/v1/images/generations", method: "POST" })
      .reply(200, { data: [{ b64_json: "AAAA" }] }, { headers: json });
    const images = await client.create(baseUrl, key, {
      model: "gpt-image-2",
      prompt: "x".repeat(60 * 1024),
    });
    expect(images).toHaveLength(1);
    expect(calls()).toHaveLength(1);
  });
});

describe("createOpenAIImagesClient: open()", () => {
  const noAuthorization = (headers: Record<string, string>) =>
    !Object.keys(headers).some((name) => name.toLowerCase() === "authorization");

  it("sends the channel's key to the channel's own origin", async () => {
    agent
      .get(origin)
      .intercept({
        path: "/v1/files/img_1/content?sig=abc",
        method: "GET",
        headers: { authorization: `Bearer ${key}` },
      })
      .reply(200, png, {
        headers: { "content-type": "image/png", "content-length": String(png.length) },
      });
    const download = await client.open(baseUrl, key, `${origin}/v1/files/img_1/content?sig=abc`);
    expect(download.contentType).toBe("image/png");
    expect(download.contentLength).toBe(png.length);
    expect(await readAll(download.body)).toEqual(png);
  });

  it("never sends the key to another origin (a pre-signed storage link)", async () => {
    const storage = "https://storage.blob.example";
    agent
      .get(storage)
      .intercept({
        path: "/images/a.png?se=2030&sig=xyz",
        method: "GET",
        headers: noAuthorization,
      })
      .reply(200, png, { headers: { "content-type": "image/png" } });
    const download = await client.open(baseUrl, key, `${storage}/images/a.png?se=2030&sig=xyz`);
    expect(await readAll(download.body)).toEqual(png);
    const [call] = calls();
    expect(call?.origin).toBe(storage);
    expect(JSON.stringify(call?.headers ?? {})).not.toContain(key);
  });

  it("another port of the same host is another origin: no key", async () => {
    const otherPort = "https://api.openai.example:8443";
    agent
      .get(otherPort)
      .intercept({ path: "/a.png", method: "GET", headers: noAuthorization })
      .reply(200, png, { headers: { "content-type": "image/png" } });
    const download = await client.open(baseUrl, key, `${otherPort}/a.png`);
    expect(await readAll(download.body)).toEqual(png);
  });

  it.each<[number, UpstreamErrorKind]>([
    [403, "gone"],
    [404, "gone"],
    [410, "gone"],
    [500, "transient"],
    [502, "transient"],
  ])("HTTP %i on a result URL is %s", async (status, kind) => {
    agent
      .get("https://storage.blob.example")
      .intercept({ path: "/a.png", method: "GET" })
      .reply(status, "no");
    const err = await upstreamError(
      client.open(baseUrl, key, "https://storage.blob.example/a.png"),
    );
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
  });

  it("a failed fetch is transient", async () => {
    agent
      .get("https://storage.blob.example")
      .intercept({ path: "/a.png", method: "GET" })
      .replyWithError(new errors.SocketError("other side closed"));
    const err = await upstreamError(
      client.open(baseUrl, key, "https://storage.blob.example/a.png"),
    );
    expect(err.kind).toBe("transient");
  });
});

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
