import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Bundles the operator console first (test/global-setup.ts).
    globalSetup: ["test/global-setup.ts"],
    // Integration tests start real servers and mostly wait on them (sockets,
    // timers, child processes). Measured on the 2-core machine before the
    // replica tests: 2 workers ~40 s, 3 ~33 s, 4 ~30 s for the suite. With
    // tests that run gateways as processes beside PostgreSQL, Redis and an S3
    // server, four workers overloaded a busy machine into timing failures:
    // three keep both cores busy with less contention.
    pool: "forks",
    maxWorkers: 3,
    // Each worker runs its share of the files one after another and loads the
    // gateway's modules (Fastify, sharp, the OpenAI SDK...) once, not once per
    // file (about half a second each). Every test builds its own gateway, data
    // dir and simulator, src keeps no process-wide state, and the tests that
    // touch the process (umask) put it back: nothing carries over.
    isolate: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
