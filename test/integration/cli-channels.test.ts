// `imagegate channels …`, run as an operator would (a separate process on the
// data dir): the round trip, a running gateway routing through a channel the
// CLI stored, the admin API's strictness, and the api key kept out of every
// output and through a master-key rotation.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type CliRun, runCliProcess } from "../helpers/cli.js";
import {
  buildTestApp,
  type CompiledSources,
  compileSources,
  type TestGateway,
} from "../helpers/gateway.js";

// The CLI compiled once to JavaScript, run by plain Node as `dist/cli.js` is.
let compiled: CompiledSources;
beforeAll(async () => {
  compiled = await compileSources();
});
afterAll(async () => {
  await compiled?.remove();
});

let dataDir: string;
let gw: TestGateway | undefined;
const masterKey = randomBytes(32).toString("base64");
const apiKey = "sk-channel-secret-0123456789";

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imagegate-cli-channels-"));
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

type Run = CliRun;

const rotatedKey = "sk-rotated-channel-key-9876";

/** Runs the CLI, and checks that no channel key appears in anything it wrote. */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const result = await runCli(args, env);
  for (const secret of [apiKey, rotatedKey]) {
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }
  return result;
}

function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  return runCliProcess(compiled.entry("cli.ts"), args, {
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_MASTER_KEY: masterKey,
    CHANNEL_KEY: apiKey,
    ...env,
  });
}

async function json(args: string[], env: Record<string, string> = {}) {
  const result = await run(args, env);
  if (result.code !== 0) throw new Error(`imagegate ${args.join(" ")}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** A failure: non-zero exit, one line on stderr, nothing on stdout. */
async function fails(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const result = await run(args, env);
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.stdout).toBe("");
  // Usage mistakes (exit 2) add the usage text after their one line.
  const lines = result.stderr.trim().split("\n");
  expect(lines[0]).toMatch(/^imagegate: /);
  if (result.code === 1) expect(lines).toHaveLength(1);
  return result;
}

const create = (...flags: string[]) =>
  json([
    "channels",
    "create",
    "--name",
    "primary",
    "--base-url",
    "https://upstream.example/",
    "--api-key-env",
    "CHANNEL_KEY",
    ...flags,
  ]);

// Each run starts a process (a fraction of a second, more on a busy machine): generous timeouts.
describe("imagegate channels", { timeout: 90_000 }, () => {
  it("creates, lists, shows, updates, reports and deletes a channel, never printing its key", async () => {
    const created = await create(
      "--models",
      "gpt-image-2,gemini-3-pro-image-preview",
      "--priority=-5",
      "--weight",
      "3",
      "--max-concurrent",
      "4",
      "--disabled",
    );
    expect(created).toMatchObject({
      object: "channel",
      name: "primary",
      provider: "async",
      base_url: "https://upstream.example",
      models: ["gpt-image-2", "gemini-3-pro-image-preview"],
      priority: -5,
      weight: 3,
      max_concurrent: 4,
      enabled: false,
      source: "admin",
      created_at: expect.any(Number),
      health: { circuit: "closed", retry_after_seconds: null, in_flight: 0 },
    });
    expect(created).not.toHaveProperty("api_key");
    const id = String(created.id);

    const listed = await json(["channels", "list"]);
    expect(listed).toMatchObject({ object: "list", data: [{ id, name: "primary" }] });
    expect(await json(["channels", "show", id])).toEqual(created);
    // A name finds it too.
    expect(await json(["channels", "show", "primary"])).toEqual(created);

    const updated = await json(
      [
        "channels",
        "update",
        id,
        "--models",
        "all",
        "--max-concurrent",
        "none",
        "--enabled",
        "--name",
        "main",
        "--api-key-env",
        "NEW_KEY",
      ],
      { NEW_KEY: rotatedKey },
    );
    expect(updated).toMatchObject({
      id,
      name: "main",
      models: [],
      max_concurrent: null,
      enabled: true,
      priority: -5,
      weight: 3,
    });

    const usage = await json([
      "channels",
      "usage",
      "main",
      "--from",
      "2025-01-01",
      "--to",
      "2025-01-31",
    ]);
    expect(usage).toEqual({
      object: "channel_usage",
      channel_id: id,
      from: "2025-01-01",
      to: "2025-01-31",
      data: [],
      totals: { submits: 0, images: 0, failures: 0 },
    });

    expect(await json(["channels", "delete", id])).toEqual({
      id,
      object: "channel",
      deleted: true,
    });
    const gone = await fails(["channels", "show", id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`No channel '${id}'`);
    expect((await json(["channels", "list"])).data).toEqual([]);
  });

  it("stores a channel that a gateway on the same data dir routes to after a restart, reports its usage, and keeps it while a task is in flight", async () => {
    gw = await buildTestApp({
      env: { IMAGEGATE_DATA_DIR: dataDir, IMAGEGATE_MASTER_KEY: masterKey },
    });
    gw.sim.addKey(apiKey);
    // Above the environment's default channel (priority 0).
    const created = await json([
      "channels",
      "create",
      "--name",
      "sim",
      "--base-url",
      gw.sim.url,
      "--api-key-env",
      "CHANNEL_KEY",
      "--priority",
      "10",
    ]);
    // A running gateway takes a change made by the CLI up at its next request.
    await gw.client.images.generate({ model: "nano-banana", prompt: "a banana" });
    expect(gw.sim.submits.map((submit) => submit.key)).toEqual([apiKey]);

    const id = String(created.id);
    const usage = await json(["channels", "usage", id]);
    expect(usage.totals).toMatchObject({ submits: 1, images: 1 });

    // A task in flight through it: delete is refused, as the admin API refuses it,
    // since a restart could no longer collect the task.
    const slow = gw.client.images.generate({
      model: "nano-banana",
      prompt: "a slow banana [sim:duration=1500]",
    });
    await gw.sim.waitForSubmits(2);
    // ...and recorded as running through it (the CLI reads the record, not the gateway).
    await vi.waitFor(
      async () => {
        const running = ((await gw?.app.store.ledger.unfinished()) ?? []).filter(
          (record) => record.state === "running" && record.channelId === id,
        );
        expect(running).toHaveLength(1);
      },
      { timeout: 10_000, interval: 20 },
    );
    const inUse = await fails(["channels", "delete", id]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain("in flight");
    await slow;
    expect(await json(["channels", "delete", id])).toMatchObject({ id, deleted: true });
  });

  it("is as strict as the admin API: a bad call exits non-zero with one line and writes nothing", async () => {
    // The data dir exists before the runs below go at it side by side.
    expect((await json(["channels", "list"])).data).toEqual([]);
    const createWith = (...flags: string[]) => ["channels", "create", "--name", "x", ...flags];
    const valid = ["--base-url", "https://u.example", "--api-key-env", "CHANNEL_KEY"];
    // A key too long for the schema: refused without repeating it.
    const longKey = `sk-${"z".repeat(600)}`;
    const cases: Array<{
      args: string[];
      env?: Record<string, string>;
      code: 1 | 2;
      says?: string;
    }> = [
      { args: createWith(...valid, "--max_concurrent", "3"), code: 2, says: "--max_concurrent" },
      { args: createWith(...valid, "--priority", "high"), code: 2, says: "--priority" },
      { args: createWith("--base-url", "https://u.example"), code: 2, says: "--api-key-env" },
      {
        args: createWith("--base-url", "https://u.example", "--api-key-env", "UNSET_KEY"),
        env: { UNSET_KEY: "" },
        code: 2,
        says: "UNSET_KEY",
      },
      {
        args: createWith("--base-url", "ftp://u.example", "--api-key-env", "CHANNEL_KEY"),
        code: 1,
        says: "base_url",
      },
      {
        args: createWith("--base-url", "https://user:pw@u.example", "--api-key-env", "K"),
        env: { K: apiKey },
        code: 1,
        says: "base_url",
      },
      { args: createWith(...valid, "--models", "gpt-image-9"), code: 1, says: "models[0]" },
      { args: createWith(...valid, "--weight", "5000"), code: 1, says: "weight" },
      { args: createWith(...valid, "--provider", "sync"), code: 1, says: "async" },
      {
        args: createWith("--base-url", "https://u.example", "--api-key-env", "LONG_KEY"),
        env: { LONG_KEY: longKey },
        code: 1,
        says: "api_key",
      },
      { args: ["channels", "frobnicate"], code: 2 },
      { args: ["channels", "show"], code: 2 },
      { args: ["channels", "list", "extra"], code: 2 },
      { args: ["channels", "update", "x", "--enabled", "--disabled"], code: 2 },
      { args: ["channels", "usage", "x", "--from", "2025-02-30"], code: 2 },
      { args: ["channels", "show", "ch_default"], code: 1, says: "not stored" },
    ];
    const results = await Promise.all(cases.map((each) => fails(each.args, each.env)));
    results.forEach((result, index) => {
      const { args, code, says } = cases[index] as (typeof cases)[number];
      expect(result.code, args.join(" ")).toBe(code);
      if (says !== undefined) expect(result.stderr.split("\n")[0]).toContain(says);
      expect(result.stderr).not.toContain("zzzzzzzzzz");
    });
    expect((await json(["channels", "list"])).data).toEqual([]);

    // An update is checked as strictly, and a refused one changes nothing.
    const created = await create();
    const id = String(created.id);
    const refusedUpdates = [
      ["channels", "update", id],
      ["channels", "update", id, "--base-url", "not a url"],
      ["channels", "update", id, "--models", "dall-e-3"],
      ["channels", "update", id, "--max-concurrent", "0"],
      ["channels", "create", "--name", "primary", ...valid],
    ];
    for (const result of await Promise.all(refusedUpdates.map((args) => fails(args)))) {
      expect(result.code).toBe(1);
    }
    expect(await json(["channels", "show", id])).toEqual(created);
  });

  it("rotates the master key over a channel's credential: the new key opens it, the old one is refused", async () => {
    const id = String((await create()).id);
    const newKey = (await run(["master-key", "generate"])).stdout.trim();

    const rotated = await json(["master-key", "rotate"], {
      IMAGEGATE_OLD_MASTER_KEY: masterKey,
      IMAGEGATE_MASTER_KEY: newKey,
    });
    expect(rotated).toMatchObject({ resealed_credentials: 1 });

    const withOld = await fails(["channels", "show", id]);
    expect(withOld.code).toBe(1);
    expect(withOld.stderr).toContain(
      "IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with",
    );
    expect((await json(["channels", "show", id], { IMAGEGATE_MASTER_KEY: newKey })).id).toBe(id);

    // A gateway with the new key opens the credential and submits with it.
    gw = await buildTestApp({
      env: { IMAGEGATE_DATA_DIR: dataDir, IMAGEGATE_MASTER_KEY: newKey },
    });
    gw.sim.addKey(apiKey);
    await json(["channels", "update", id, "--base-url", gw.sim.url, "--priority", "10"], {
      IMAGEGATE_MASTER_KEY: newKey,
    });
    await gw.restart();
    await gw.client.images.generate({ model: "nano-banana", prompt: "a banana" });
    expect(gw.sim.submits.map((submit) => submit.key)).toEqual([apiKey]);
  });
});
