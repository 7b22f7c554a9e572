// The upstream client's submit with uploaded files, against the real
// simulator: files go out as data: URIs streamed from disk, an unreadable file
// is the gateway's fault ("local"), and a body larger than the upstream takes
// is refused before anything is sent.
import { randomBytes } from "node:crypto";
import { appendFile, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUpstreamClient, type UpstreamClient } from "../../src/providers/async/client.js";
import { UpstreamError } from "../../src/providers/failures.js";
import { encodedJsonLength, FileDataUri } from "../../src/providers/json-body.js";
import { type Simulator, startSimulator } from "../../src/simulator/server.js";

const pngHead = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (size: number) => Buffer.concat([pngHead, randomBytes(size - pngHead.length)]);
const jpeg = (size: number) =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), randomBytes(size - 3)]);

let sim: Simulator;
let dir: string;
let pool: Pool;
beforeEach(async () => {
  sim = await startSimulator({ keys: ["k"] });
  pool = new Pool(sim.url);
  dir = await mkdtemp(join(tmpdir(), "imagegate-submit-body-"));
});
afterEach(async () => {
  await pool.close();
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

function connect(maxBodyBytes?: number): UpstreamClient {
  return createUpstreamClient({
    baseUrl: sim.url,
    dispatcher: pool,
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
  });
}

async function file(name: string, bytes: Buffer, type: string): Promise<FileDataUri> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return new FileDataUri(path, type, bytes.length);
}

async function localFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(
    () => new Error("the submit was accepted"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  expect((err as UpstreamError).kind).toBe("local");
  return err as UpstreamError;
}

describe("submit with uploaded files", () => {
  it("sends each file as a data: URI the upstream decodes to the same bytes", async () => {
    const small = png(100_001);
    const large = jpeg(1024 * 1024 + 2);
    const upstream = connect();
    const taskId = await upstream.submit("k", {
      model: "gpt-image-2",
      prompt: "a banana",
      image_url: [
        await file("a.png", small, "image/png"),
        await file("b.jpg", large, "image/jpeg"),
      ],
    });
    expect(sim.submits.map((s) => s.taskId)).toEqual([taskId]);
    expect(sim.task(taskId)?.body.image_url).toEqual([
      `data:image/png;base64,${small.toString("base64")}`,
      `data:image/jpeg;base64,${large.toString("base64")}`,
    ]);
    const references = await sim.references(taskId);
    expect(references.map((r) => [r.form, r.status, r.imageType])).toEqual([
      ["data", 200, "image/png"],
      ["data", 200, "image/jpeg"],
    ]);
    expect(references[0]?.bytes.equals(small)).toBe(true);
    expect(references[1]?.bytes.equals(large)).toBe(true);
  });

  it("fails as local, with no task upstream, when a file does not exist", async () => {
    const upstream = connect();
    const missing = new FileDataUri(join(dir, "gone.png"), "image/png", 5000);
    const err = await localFailure(
      upstream.submit("k", { model: "gpt-image-2", prompt: "a banana", image_url: [missing] }),
    );
    expect((err.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(err.status).toBeUndefined();
    // The same client still works, and the simulator has only that submit.
    const bytes = png(64);
    const taskId = await upstream.submit("k", {
      model: "gpt-image-2",
      prompt: "a banana",
      image_url: [await file("ok.png", bytes, "image/png")],
    });
    expect(sim.submits.map((s) => s.taskId)).toEqual([taskId]);
    expect((await sim.references(taskId))[0]?.bytes.equals(bytes)).toBe(true);
  });

  it("fails as local, with no task upstream, when a file shrank or grew after it was described", async () => {
    const upstream = connect();
    const shrunk = await file("shrunk.png", png(200_000), "image/png");
    await truncate(shrunk.path, 100_000);
    const grown = await file("grown.png", png(200_000), "image/png");
    await appendFile(grown.path, randomBytes(7));
    for (const changed of [shrunk, grown]) {
      await localFailure(
        upstream.submit("k", { model: "gpt-image-2", prompt: "a banana", image_url: [changed] }),
      );
    }
    expect(sim.submits).toEqual([]);
  });

  it("refuses a body over maxBodyBytes with 413 before sending anything, and sends one at it", async () => {
    const body = {
      model: "gpt-image-2",
      prompt: "a banana",
      image_url: [await file("a.png", png(3000), "image/png")],
    };
    const length = encodedJsonLength(body);
    const err = await localFailure(connect(length - 1).submit("k", body));
    expect(err.status).toBe(413);
    expect(err.message).toBe(
      `the submit body would be ${length} bytes, more than the upstream takes (${length - 1})`,
    );
    expect(sim.counts.submit).toBe(0);
    expect(sim.requests).toEqual([]);

    const taskId = await connect(length).submit("k", body);
    expect(sim.counts.submit).toBe(1);
    expect(sim.submits.map((s) => s.taskId)).toEqual([taskId]);
  });

  it("refuses a plain body over maxBodyBytes with 413 too", async () => {
    const body = { model: "gpt-image-2", prompt: "é".repeat(100) };
    const length = Buffer.byteLength(JSON.stringify(body));
    const err = await localFailure(connect(length - 1).submit("k", body));
    expect(err.status).toBe(413);
    expect(sim.counts.submit).toBe(0);
  });
});
