// Types for build.mjs, for the TypeScript that imports it (test/global-setup.ts).

export interface ConsoleBuildOptions {
  /** Where index.html, app.js and app.css go; default <package root>/dist/console. */
  outDir?: string;
}

export interface ConsoleBuildResult {
  outDir: string;
  /** The files written or already up to date, by name. */
  files: string[];
}

/** Bundles web/ into outDir: index.html, app.js, app.css. */
export function buildConsole(options?: ConsoleBuildOptions): Promise<ConsoleBuildResult>;
