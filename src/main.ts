// Process entry: load config, build the app, listen, close on SIGTERM/SIGINT.
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import { buildApp } from "./app.js";
import { type Config, configOrExit } from "./config.js";
import { closeGracefully } from "./shutdown.js";

export { configOrExit };

export async function serve(config: Config): Promise<void> {
  // sharp's operation cache is process-wide (hence set here, once): it keeps
  // recently opened inputs and their pixels for reuse, which only pays when the
  // same file is processed again. Results are each processed once, so it would
  // only hold tens of MB of images nobody asks for again.
  sharp.cache(false);
  const app = await buildApp(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, "shutting down");
    // A close that hangs past the drain ends the process anyway.
    const force = setTimeout(() => process.exit(1), config.drainTimeoutMs + 10_000);
    force.unref();
    closeGracefully(app, config.drainTimeoutMs).then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  // A burst of thousands of connections (clients held for minutes each) would
  // overflow Node's default accept queue of 511 and see resets.
  await app.listen({ port: config.port, host: config.host, backlog: 4096 });
}

const entry = process.argv[1];
const isEntry = entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
if (isEntry) {
  serve(configOrExit()).catch((err: unknown) => {
    process.stderr.write(`imagegate: failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
