// The operator console at /console: a single page bundled at build time
// (web/, into dist/console), served by the gateway, talking to /admin only.
// The files are small: they are read once, at registration, and served from
// memory with a strict Content-Security-Policy (nothing but this origin).
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { gatewayError } from "../../errors.js";

export interface ConsoleRouteOptions {
  /** Where the bundle is; default the package's dist/console (from src/ or dist/ alike). */
  dir?: URL | string;
}

const defaultDir = new URL("../../../dist/console/", import.meta.url);

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** Every console answer: the page may load only its own files and talk only to its origin. */
export const consoleSecurityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

interface ConsoleFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The bundle's files by name, or undefined when there is no built page. */
async function loadBundle(dir: string): Promise<Map<string, ConsoleFile> | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const files = new Map<string, ConsoleFile>();
  for (const name of names) {
    const type = contentTypes[extname(name)];
    if (type === undefined) continue;
    const body = await readFile(join(dir, name));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    files.set(name, { body, type, etag });
  }
  return files.has("index.html") ? files : undefined;
}

function send(request: FastifyRequest, reply: FastifyReply, file: ConsoleFile, cache: string) {
  reply.headers(consoleSecurityHeaders).header("cache-control", cache).header("etag", file.etag);
  if (request.headers["if-none-match"] === file.etag) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

export const consoleRoutes: FastifyPluginAsync<ConsoleRouteOptions> = async (app, options) => {
  const given = options.dir ?? defaultDir;
  const files = await loadBundle(typeof given === "string" ? given : fileURLToPath(given));
  if (files === undefined) {
    // A checkout run without `npm run build`: say so rather than a bare 404.
    const notBuilt = async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.headers(consoleSecurityHeaders).header("cache-control", "no-store");
      throw gatewayError("console_not_built");
    };
    app.get("/console", notBuilt);
    app.get("/console/", notBuilt);
    return;
  }

  const index = files.get("index.html") as ConsoleFile;
  // The page is never cached: a new version's page names the new assets at once.
  const page = async (request: FastifyRequest, reply: FastifyReply) =>
    send(request, reply, index, "no-store");
  app.get("/console", page);
  app.get("/console/", page);
  for (const [name, file] of files) {
    if (name === "index.html") continue;
    // Revalidated on each load (ETag): cheap, and never stale after an upgrade.
    app.get(`/console/${name}`, async (request, reply) => send(request, reply, file, "no-cache"));
  }
};
