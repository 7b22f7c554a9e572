// The gateway in a process of its own, for the memory, lag and throughput
// benchmarks (started by bench/child-gateway.ts): its RSS and CPU are then the
// gateway's alone, not the client's 10,000 sockets. It runs the compiled
// `dist/` that `npm start` runs (npm run bench builds it first), with main.ts's
// own config from the environment, buildApp and listen, on the PORT the bench
// chose; plain JavaScript so that no TypeScript loader adds its memory.
// Prints one JSON line, {"pid"}, once it listens; answers each "memory" line
// on stdin with one JSON line of process.memoryUsage() (after a full GC for
// "memory gc" when node runs with --expose-gc); stops when stdin closes, so it
// never outlives the bench.
import { createInterface } from "node:readline";
import { configOrExit, serve } from "../dist/main.js";

await serve(configOrExit());

const commands = createInterface({ input: process.stdin });
commands.on("line", (line) => {
  const [command, option] = line.trim().split(/\s+/);
  if (command !== "memory") return;
  if (option === "gc" && typeof globalThis.gc === "function") globalThis.gc();
  process.stdout.write(`${JSON.stringify(process.memoryUsage())}\n`);
});
// serve() closes the app and exits on SIGTERM.
commands.on("close", () => process.kill(process.pid, "SIGTERM"));
process.stdout.write(`${JSON.stringify({ pid: process.pid })}\n`);
