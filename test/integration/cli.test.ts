// The `imagegate` CLI, run as an operator would (a separate process on the
// data dir), round-tripping with a running gateway on the same data dir.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
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

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imagegate-cli-"));
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

type Run = CliRun;

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCliProcess(compiled.entry("cli.ts"), args, {
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_MASTER_KEY: masterKey,
    ...env,
  });
}

async function json(args: string[], env: Record<string, string> = {}) {
  const result = await run(args, env);
  if (result.code !== 0) throw new Error(`imagegate ${args.join(" ")}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

// Each run starts a process (a fraction of a second, more on a busy machine): generous timeouts.
describe("imagegate CLI", { timeout: 90_000 }, () => {
  it("bootstraps a tenant with its own upstream key that a running gateway serves, then keys and usage", async () => {
    const upstreamKey = "sk-cli-upstream-key-0001";
    const created = await json(
      [
        "tenants",
        "create",
        "--name",
        "acme",
        "--rpm",
        "30",
        "--models",
        "nano-banana,dall-e-3",
        "--upstream-key-env",
        "ACME_UPSTREAM_KEY",
      ],
      { ACME_UPSTREAM_KEY: upstreamKey },
    );
    expect(created).toMatchObject({
      object: "tenant",
      name: "acme",
      rpm: 30,
      models: ["nano-banana", "dall-e-3"],
      has_upstream_key: true,
    });
    expect(JSON.stringify(created)).not.toContain(upstreamKey);
    const tenantId = String(created.id);

    gw = await buildTestApp({
      env: { IMAGEGATE_DATA_DIR: dataDir, IMAGEGATE_MASTER_KEY: masterKey },
    });
    gw.sim.addKey(upstreamKey);
    const client = gw.clientWith(String(created.api_key));
    await client.images.generate({ model: "nano-banana", prompt: "a banana" });
    expect(gw.sim.submits.map((submit) => submit.key)).toEqual([upstreamKey]);

    // Changes made by the CLI while the gateway runs apply to the next request.
    const second = await json(["keys", "issue", tenantId, "--name", "ci", "--expires-in", "600"]);
    expect(second).toMatchObject({ object: "api_key", name: "ci" });
    const secondClient = gw.clientWith(String(second.api_key));
    await secondClient.images.generate({
      model: "dall-e-3",
      prompt: "p",
      response_format: "b64_json",
    });
    const revoked = await json(["keys", "revoke", tenantId, String(second.id)]);
    expect(revoked.revoked_at).toEqual(expect.any(Number));
    await expect(
      secondClient.images.generate({ model: "nano-banana", prompt: "p" }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const shown = await json(["tenants", "show", tenantId]);
    expect((shown.keys as unknown[]).length).toBe(2);
    expect(JSON.stringify(shown)).not.toContain(String(second.api_key));

    const usage = await json(["usage", tenantId]);
    expect(usage.totals).toMatchObject({ requests: 2, upstream_tasks: 2, images: 2 });

    const updated = await json(["tenants", "update", tenantId, "--rpm", "none", "--models", "all"]);
    expect(updated).toMatchObject({ rpm: null, models: null });
    expect(await json(["tenants", "disable", tenantId])).toMatchObject({ disabled: true });
    await expect(
      client.images.generate({ model: "nano-banana", prompt: "p" }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const listed = await json(["tenants", "list"]);
    expect((listed.data as Array<{ id: string }>).map((tenant) => tenant.id)).toContain(tenantId);
  });

  it("rotates the master key: the new key opens the credentials, the old one no longer starts", async () => {
    await json(["tenants", "create", "--name", "byok", "--upstream-key-env", "K"], {
      K: "sk-rotate-me-0001",
    });
    const newKey = (await run(["master-key", "generate"])).stdout.trim();
    expect(Buffer.from(newKey, "base64")).toHaveLength(32);

    const wrongOld = await run(["master-key", "rotate"], {
      IMAGEGATE_OLD_MASTER_KEY: randomBytes(32).toString("base64"),
      IMAGEGATE_MASTER_KEY: newKey,
    });
    expect(wrongOld.code).toBe(1);
    expect(wrongOld.stderr).toMatch(/^imagegate: the old master key is not the one/);

    const rotated = await json(["master-key", "rotate"], {
      IMAGEGATE_OLD_MASTER_KEY: masterKey,
      IMAGEGATE_MASTER_KEY: newKey,
    });
    expect(rotated).toMatchObject({ resealed_credentials: 1 });

    const withOld = await run(["tenants", "list"]);
    expect(withOld.code).toBe(1);
    expect(withOld.stderr.trim().split("\n")).toHaveLength(1);
    expect(withOld.stderr).toContain(
      "IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with",
    );
    expect((await run(["tenants", "list"], { IMAGEGATE_MASTER_KEY: newKey })).code).toBe(0);
  });

  it("refuses bad input with one line and a non-zero exit, writing nothing", async () => {
    const typo = await run(["tenants", "create", "--name", "x", "--max_concurrent", "3"]);
    expect(typo.code).not.toBe(0);
    const unknownModel = await run(["tenants", "create", "--name", "x", "--models", "dall-e-9"]);
    expect(unknownModel.code).toBe(1);
    expect(unknownModel.stderr).toContain("unknown model");
    const badLimit = await run(["tenants", "create", "--name", "x", "--rpm", "lots"]);
    expect(badLimit.code).toBe(2);
    const badKey = await run(["tenants", "list"], { IMAGEGATE_MASTER_KEY: "short" });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/IMAGEGATE_MASTER_KEY/);
    expect((await json(["tenants", "list"])).data).toEqual([]);
  });
});
