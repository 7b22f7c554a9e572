// Vitest's global setup: bundles the operator console (web/ → dist/console)
// once before the tests, which run before `npm run build` in CI, so that every
// gateway under test serves the console of the current sources.
import { buildConsole } from "../web/build.mjs";

export default async function setup(): Promise<void> {
  await buildConsole();
}
