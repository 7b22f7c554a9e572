// `imagegate store migrate`: an embedded installation (tenants, keys, a
// channel, generation records and their usage, small results) copied into
// PostgreSQL by the CLI, verified, and served from there by a gateway on the
// shared engine; a second run copies nothing and verifies again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliProcess } from "../helpers/cli.js";
import {
  adminToken,
  buildTestApp,
  type CompiledSources,
  compileSources,
  masterKey,
  type TestGateway,
} from "../helpers/gateway.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";
import { startS3 } from "../helpers/s3.js";

let compiled: CompiledSources;
let schema: TestSchema;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  compiled = await compileSources();
  schema = await freshSchema("migrate");
});
afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  await schema?.drop();
  await compiled?.remove();
});

interface Report {
  object: string;
  verified: boolean;
  tables: Record<string, { source: number; copied: number; present: number }>;
  files: { source: number; copied: number; present: number; bucket: string | null };
}

const admin = { authorization: `Bearer ${adminToken}` };

describe("imagegate store migrate", { timeout: 90_000 }, () => {
  it("copies the vault, channels, records and small results, verifies, and is safe to re-run", async () => {
    // The embedded installation, in use.
    const embedded = await buildTestApp();
    gateways.push(embedded);
    const generated = await embedded.client.images.generate({
      model: "nano-banana",
      prompt: "kept across the move",
      response_format: "b64_json",
    });
    const image = generated.data?.[0]?.b64_json ?? "";
    expect(image.length).toBeGreaterThan(0);
    const asyncTask = await fetch(`${embedded.url}/v1/images/generations/async`, {
      method: "POST",
      headers: { authorization: `Bearer ${embedded.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-banana", prompt: "an async one" }),
    });
    const { task_id: taskId } = (await asyncTask.json()) as { task_id: string };
    await expect
      .poll(
        async () => {
          const task = await fetch(`${embedded.url}/v1/images/tasks/${taskId}`, {
            headers: { authorization: `Bearer ${embedded.apiKey}` },
          });
          return ((await task.json()) as { data: { status: string } }).data.status;
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBe("SUCCESS");
    const channel = await embedded.app.inject({
      method: "POST",
      url: "/admin/channels",
      headers: admin,
      payload: { name: "second-account", base_url: embedded.sim.url, api_key: "sim-key-2" },
    });
    expect(channel.statusCode).toBe(201);
    const usageBefore = (
      await embedded.app.inject({
        method: "GET",
        url: `/admin/tenants/${embedded.tenantId}/usage`,
        headers: admin,
      })
    ).json<{ totals: Record<string, number> }>();
    // Stopped before the move, as the README says.
    await embedded.app.close();

    const env = { IMAGEGATE_MASTER_KEY: masterKey };
    const args = ["store", "migrate", "--from", embedded.config.dataDir, "--to", schema.url];
    const first = await runCliProcess(compiled.entry("cli.ts"), args, env);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as Report;
    expect(report.verified).toBe(true);
    expect(report.tables.tenants).toEqual({ source: 1, copied: 1, present: 1 });
    expect(report.tables.api_keys).toEqual({ source: 1, copied: 1, present: 1 });
    expect(report.tables.channels).toEqual({ source: 1, copied: 1, present: 1 });
    expect(report.tables.generations).toEqual({ source: 2, copied: 2, present: 2 });
    expect(report.tables.small_blobs?.source).toBe(2);

    // A second run finds everything there: nothing copied, all verified.
    const again = await runCliProcess(compiled.entry("cli.ts"), args, env);
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as Report;
    expect(second.verified).toBe(true);
    for (const table of Object.values(second.tables)) {
      expect(table.copied).toBe(0);
      expect(table.present).toBe(table.source);
    }

    // A gateway on PostgreSQL serves the moved installation.
    const shared = await buildTestApp({ env: { IMAGEGATE_DATABASE_URL: schema.url } });
    gateways.push(shared);
    const key = { authorization: `Bearer ${embedded.apiKey}` };
    const task = await fetch(`${shared.url}/v1/images/tasks/${taskId}`, { headers: key });
    expect(task.status).toBe(200);
    expect(((await task.json()) as { data: { status: string } }).data.status).toBe("SUCCESS");
    const content = await fetch(`${shared.url}/v1/images/tasks/${taskId}/content?index=0`, {
      headers: key,
    });
    expect(content.status).toBe(200);
    expect(embedded.sim.image(embedded.sim.submits[1]?.taskId ?? "", 0).bytes).toEqual(
      Buffer.from(await content.arrayBuffer()),
    );
    const usageAfter = (
      await shared.app.inject({
        method: "GET",
        url: `/admin/tenants/${embedded.tenantId}/usage`,
        headers: admin,
      })
    ).json<{ totals: Record<string, number> }>();
    expect(usageAfter.totals).toEqual(usageBefore.totals);
    const channels = (
      await shared.app.inject({ method: "GET", url: "/admin/channels", headers: admin })
    ).json<{ data: Array<{ name: string }> }>();
    expect(channels.data.map((each) => each.name)).toContain("second-account");
  });

  it("copies result files to the bucket with --s3, and a gateway on PostgreSQL and S3 serves them", async () => {
    // Larger than a database row takes: the result is a file in the data dir.
    const embedded = await buildTestApp({ sim: { imageBytes: 300_000 } });
    gateways.push(embedded);
    const answer = await embedded.client.images.generate({
      model: "nano-banana",
      prompt: "a file to move",
      response_format: "url",
    });
    const id = new URL(answer.data?.[0]?.url ?? "").pathname.split("/").at(-1) ?? "";
    await embedded.app.close();
    const s3 = await startS3();
    const other = await freshSchema("migrate");
    try {
      const env = {
        IMAGEGATE_MASTER_KEY: masterKey,
        IMAGEGATE_S3_ENDPOINT: s3.endpoint,
        IMAGEGATE_S3_FORCE_PATH_STYLE: "true",
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      };
      const args = ["store", "migrate", "--from", embedded.config.dataDir, "--to", other.url];
      const run = await runCliProcess(compiled.entry("cli.ts"), [...args, "--s3", s3.bucket], env);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as Report;
      expect(report.verified).toBe(true);
      expect(report.files).toEqual({ source: 1, copied: 1, present: 1, bucket: s3.bucket });
      expect(await s3.keys()).toEqual([`images/${id}`]);
      const again = JSON.parse(
        (await runCliProcess(compiled.entry("cli.ts"), [...args, "--s3", s3.bucket], env)).stdout,
      ) as Report;
      expect(again.files).toEqual({ source: 1, copied: 0, present: 1, bucket: s3.bucket });

      const shared = await buildTestApp({
        env: { IMAGEGATE_DATABASE_URL: other.url, ...s3.env },
      });
      gateways.push(shared);
      const signed = new URL(answer.data?.[0]?.url ?? "");
      signed.host = new URL(shared.url).host;
      const served = await fetch(signed);
      expect(served.status).toBe(200);
      const expected = embedded.sim.image(embedded.sim.submits[0]?.taskId ?? "", 0).bytes;
      expect(Buffer.from(await served.arrayBuffer())).toEqual(expected);
    } finally {
      await other.drop();
      await s3.close();
    }
  });

  it("refuses a wrong master key before copying anything", async () => {
    const embedded = await buildTestApp({
      env: { IMAGEGATE_MASTER_KEY: Buffer.alloc(32, 9).toString("base64") },
    });
    gateways.push(embedded);
    await embedded.app.close();
    const other = await freshSchema("migrate");
    try {
      const run = await runCliProcess(
        compiled.entry("cli.ts"),
        ["store", "migrate", "--from", embedded.config.dataDir, "--to", other.url],
        { IMAGEGATE_MASTER_KEY: masterKey },
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with/,
      );
      expect(run.stdout).toBe("");
    } finally {
      await other.drop();
    }
  });
});
