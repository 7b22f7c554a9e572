// DESIGN.md's rules between the parts, read from the imports of src/. A new
// import that crosses a line fails here with the file and the import named.
// Allowances that are debts are named with their reason in the rule, so that
// they cannot grow unnoticed.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const src = join(process.cwd(), "src");

/** The part a file of src/ belongs to: its folder, or "root" for files at the top. */
function partOf(file: string): string {
  const [first, second] = relative(src, file).split("/");
  return second === undefined ? "root" : (first as string);
}

interface Import {
  file: string;
  specifier: string;
  /** For a relative import, the file it names (relative to src/). */
  target?: string;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const found: Import[] = [];
  const pattern =
    /(?:^|\s)(?:import|export)[^"'`;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const match of text.matchAll(pattern)) {
    const specifier = (match[1] ?? match[2]) as string;
    const entry: Import = { file: relative(src, file), specifier };
    if (specifier.startsWith(".")) entry.target = relative(src, join(dirname(file), specifier));
    found.push(entry);
  }
  return found;
}

const files = readdirSync(src, { recursive: true })
  .map(String)
  .filter((name) => name.endsWith(".ts"))
  .map((name) => join(src, name));
const imports = files.flatMap(importsOf);

/** The part an import lands in: a folder of src/, "root/<file>", or the package's name. */
function landing(entry: Import): string {
  if (entry.target === undefined) return entry.specifier;
  const [first, second] = entry.target.split("/");
  return second === undefined
    ? `root/${(first as string).replace(/\.js$/, "")}`
    : (first as string);
}

/** Shared leaves anything may import: no I/O, no state. */
const leaves = ["root/errors", "root/clock", "root/lookup-table", "root/random-ids"];

const rules: Record<string, { may: string[]; why: string }> = {
  catalog: {
    may: ["catalog", "root/errors", "root/lookup-table", "zod"],
    why: "catalog/ is pure: model names, aliases and vocabularies, no I/O, no clock",
  },
  providers: {
    may: ["providers", ...leaves, "undici", "node:stream", "node:crypto", "node:fs"],
    why: "providers/ take a base URL, a credential and a body; they know no tenant, HTTP layer or channel",
  },
  upstream: {
    may: ["upstream", "providers", ...leaves, "undici", "node:stream", "node:fs", "node:crypto"],
    why: "upstream/ is the poller, its schedule and the breakers over the providers' clients; it knows no store",
  },
  channels: {
    may: ["channels", "providers", "upstream", "catalog", ...leaves, "undici", "zod"],
    why: "channels/ route to providers; they know nothing of generations or HTTP",
  },
  generation: {
    may: [
      "generation",
      "catalog",
      "channels",
      "providers",
      "upstream",
      "storage",
      "tenancy",
      ...leaves,
      "sharp",
      "node:crypto",
      "node:stream",
      "node:fs",
      "node:fs/promises",
    ],
    why: "generation/ is the use case: it never sees a Fastify request or reply",
  },
  storage: {
    may: [
      "storage",
      ...leaves,
      "node:crypto",
      "node:fs",
      "node:fs/promises",
      "node:path",
      "node:stream",
      "node:stream/promises",
      "@aws-sdk/client-s3",
      "@aws-sdk/lib-storage",
      "@aws-sdk/s3-request-presigner",
    ],
    why: "storage/ holds blobs and files behind interfaces (data dir, S3); their SQL is in stores/",
  },
  stores: {
    may: [
      "stores",
      "generation",
      "channels",
      "upstream",
      "storage",
      "tenancy",
      "catalog",
      ...leaves,
      "better-sqlite3",
      "pg",
      "ioredis",
      "@aws-sdk/client-s3",
      "@aws-sdk/lib-storage",
      "node:fs",
      "node:fs/promises",
      "node:path",
      "node:crypto",
    ],
    why: "stores/ implement the repositories and shared limits their users own (generation/record.ts, tenancy/limits.ts), with SQL and Lua",
  },
  tenancy: {
    may: [
      "tenancy",
      "storage",
      "catalog",
      ...leaves,
      "zod",
      "better-sqlite3",
      "node:crypto",
      "node:path",
    ],
    why: "tenancy/ is the vault and limits over its repository; it knows no HTTP, no upstream and no SQL",
  },
};

describe("the layers of DESIGN.md, read from the imports", () => {
  for (const [part, rule] of Object.entries(rules)) {
    it(`${part}/ imports only what it may: ${rule.why}`, () => {
      const crossing = imports
        .filter((entry) => partOf(join(src, entry.file)) === part)
        .filter((entry) => !rule.may.includes(landing(entry)))
        .map((entry) => `${entry.file} imports ${entry.specifier}`);
      expect(crossing).toEqual([]);
    });
  }

  it("Fastify appears only in http/, plugins/ (the parts as named plugins), app.ts and shutdown.ts", () => {
    const crossing = imports
      .filter((entry) => /^(fastify|@fastify\/|fastify-plugin)/.test(entry.specifier))
      .filter((entry) => !["http", "plugins"].includes(partOf(join(src, entry.file))))
      .filter((entry) => !["app.ts", "shutdown.ts"].includes(entry.file))
      .map((entry) => `${entry.file} imports ${entry.specifier}`);
    expect(crossing).toEqual([]);
  });

  it("http/ calls the use case, never a provider, the upstream client or the poller", () => {
    const crossing = imports
      .filter((entry) => partOf(join(src, entry.file)) === "http")
      .filter((entry) => ["providers", "upstream", "simulator"].includes(landing(entry)))
      .map((entry) => `${entry.file} imports ${entry.specifier}`);
    expect(crossing).toEqual([]);
  });

  it("http/ reaches channels/ only from the operator's channel routes (as tenants through the vault)", () => {
    const crossing = imports
      .filter((entry) => partOf(join(src, entry.file)) === "http")
      .filter((entry) => landing(entry) === "channels")
      .filter((entry) => entry.file !== "http/routes/admin-channels.ts")
      .map((entry) => `${entry.file} imports ${entry.specifier}`);
    expect(crossing).toEqual([]);
  });

  it("the simulator is imported by no production code but the CLI's demo", () => {
    const crossing = imports
      .filter((entry) => landing(entry) === "simulator")
      .filter((entry) => partOf(join(src, entry.file)) !== "simulator")
      .filter((entry) => entry.file !== "cli.ts")
      .map((entry) => `${entry.file} imports ${entry.specifier}`);
    expect(crossing).toEqual([]);
  });

  it("reads the imports it checks (the scan itself works)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(
      imports.some(
        (entry) =>
          entry.file === "generation/generate.ts" && entry.target === "channels/registry.js",
      ),
    ).toBe(true);
    expect(
      imports.some(
        (entry) => entry.file === "cli.ts" && entry.specifier === "./simulator/server.js",
      ),
    ).toBe(true);
  });

  it("SQL is written only in stores/", () => {
    const sql = /\.prepare\(|\.pragma\(|\bdb\.exec\(|\bdb\.transaction\(/;
    const writing = files
      .filter((file) => partOf(file) !== "stores")
      .filter((file) => sql.test(readFileSync(file, "utf8")))
      .map((file) => relative(src, file));
    expect(writing).toEqual([]);
  });
});
