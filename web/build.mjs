// Bundles the operator console (web/) into dist/console/: index.html, app.js
// and app.css, minified, with no source maps and nothing fetched at run time.
// `npm run build` runs it after tsc; the tests' global setup calls
// buildConsole() so that the gateway under test serves the current sources.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const webDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(webDir, "..");

/**
 * Writes `bytes` to `path` unless it already holds them, through a temporary
 * file and a rename: a gateway (or another test run) reading the bundle
 * meanwhile sees the old file or the new one, never half of one.
 */
async function writeAtomically(path, bytes) {
  const current = await readFile(path).catch(() => undefined);
  if (current?.equals(bytes)) return;
  const temporary = `${path}.${process.pid}.${createHash("sha256").update(bytes).digest("hex").slice(0, 8)}.tmp`;
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

export async function buildConsole(options = {}) {
  const outDir = resolve(options.outDir ?? join(root, "dist", "console"));
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: join(webDir, "src", "main.tsx") },
    bundle: true,
    minify: true,
    format: "esm",
    // Browsers an operator's machine runs; the bundle uses nothing newer.
    target: ["chrome111", "firefox115", "safari16.4"],
    jsx: "automatic",
    jsxImportSource: "preact",
    tsconfig: join(webDir, "tsconfig.json"),
    // Fixed names: the gateway serves them with ETags, so no hashed names are needed.
    entryNames: "[name]",
    outdir: outDir,
    write: false,
    legalComments: "none",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
  });
  await mkdir(outDir, { recursive: true });
  const files = [];
  for (const output of result.outputFiles) {
    await writeAtomically(output.path, Buffer.from(output.contents));
    files.push(output.path.slice(outDir.length + 1));
  }
  await writeAtomically(join(outDir, "index.html"), await readFile(join(webDir, "index.html")));
  files.push("index.html");
  return { outDir, files: files.sort() };
}

// `node web/build.mjs`: build into dist/console and say what was written.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { outDir, files } = await buildConsole();
  console.log(`console: ${files.join(", ")} in ${outDir}`);
}
