// The operator console as the gateway serves it (src/http/routes/console.ts):
// the page and its assets from the bundle test/global-setup.ts built, with a
// strict Content-Security-Policy; the gateway's own 404 for anything else;
// and a 503 that says what to do when the bundle was never built. What the
// page does in a browser is test/browser/console.test.ts.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toErrorResponse } from "../../src/errors.js";
import { consoleRoutes } from "../../src/http/routes/console.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

const csp =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** URLs a bundle may contain: XML namespace names (preact's), which are never fetched. */
const namespaces = /^http:\/\/www\.w3\.org\//;
const externalUrls = (text: string) =>
  [...text.matchAll(/https?:\/\/[^\s"'`)<>]+/g)]
    .map((match) => match[0])
    .filter((url) => !namespaces.test(url));

describe("GET /console on a gateway with an admin token", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await buildTestApp();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("answers the page with the security headers, never cached", async () => {
    for (const path of ["/console", "/console/"]) {
      const response = await fetch(`${gw.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(response.headers.get("content-security-policy")).toBe(csp);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("cache-control")).toBe("no-store");
      const html = await response.text();
      expect(html).toContain('<div id="app">');
      expect(html).toContain('src="/console/app.js"');
      expect(html).toContain('href="/console/app.css"');
      // Nothing from another origin: no CDN, no font service.
      expect(externalUrls(html)).toEqual([]);
    }
  });

  it("serves the script and the stylesheet with their types, revalidated by ETag", async () => {
    const expected = {
      "/console/app.js": "text/javascript; charset=utf-8",
      "/console/app.css": "text/css; charset=utf-8",
    };
    for (const [path, type] of Object.entries(expected)) {
      const response = await fetch(`${gw.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe(type);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      const body = await response.text();
      expect(body.length).toBeGreaterThan(1000);
      expect(externalUrls(body)).toEqual([]);
      const etag = response.headers.get("etag");
      expect(etag).toMatch(/^"[\w-]+"$/);
      const again = await fetch(`${gw.url}${path}`, {
        headers: { "if-none-match": etag as string },
      });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
    }
  });

  it("answers an unknown console file with the gateway's 404", async () => {
    for (const path of ["/console/nope.js", "/console/../package.json", "/console/app.js.map"]) {
      const response = await fetch(`${gw.url}${path}`);
      expect(response.status, path).toBe(404);
      const body = (await response.json()) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({ type: "invalid_request_error", code: "unknown_url" });
    }
  });

  it("asks for nothing but GET", async () => {
    const response = await fetch(`${gw.url}/console`, { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unknown_url");
  });
});

describe("GET /console without a built bundle", () => {
  /** The plugin alone, with the gateway's error mapping (app.ts's handler). */
  async function serve(dir: string) {
    const app = Fastify({ logger: false });
    app.setErrorHandler((err, _request, reply) => {
      const response = toErrorResponse(err);
      return reply.code(response.status).headers(response.headers).send(response.body);
    });
    await app.register(consoleRoutes, { dir });
    return app;
  }

  it("answers 503 console_not_built, saying to run npm run build", async () => {
    const empty = await mkdtemp(join(tmpdir(), "imagegate-console-"));
    // A directory with assets but no page is not a bundle either.
    await writeFile(join(empty, "app.js"), "");
    try {
      for (const dir of [join(empty, "missing"), empty]) {
        const app = await serve(dir);
        for (const url of ["/console", "/console/"]) {
          const response = await app.inject({ method: "GET", url });
          expect(response.statusCode, `${dir} ${url}`).toBe(503);
          expect(response.headers["x-should-retry"]).toBe("false");
          const { error } = response.json<{ error: Record<string, unknown> }>();
          expect(error).toMatchObject({ type: "server_error", code: "console_not_built" });
          expect(error.message).toContain("npm run build");
        }
        await app.close();
      }
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
