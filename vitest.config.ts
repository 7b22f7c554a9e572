import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real servers; keep parallelism modest for 2-core CI.
    pool: "forks",
    maxWorkers: 2,
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
