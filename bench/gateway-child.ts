// The gateway in a process of its own, for the memory, lag and throughput
// benchmarks (started by bench/child-gateway.ts): its RSS and CPU are then the
// gateway's alone, not the client's 10,000 sockets. Started
// exactly as `npm start` starts it (main.ts: config from the environment,
// buildApp, listen), on the PORT the bench chose. Prints one JSON line,
// {"pid"}, once it listens; answers each "memory" line on stdin with one JSON
// line of process.memoryUsage() (after a full GC for "memory gc" when node runs
// with --expose-gc); stops when stdin closes, so it never outlives the bench.
import { createInterface } from "node:readline";
import { configOrExit, serve } from "../src/main.js";

await serve(configOrExit());

const commands = createInterface({ input: process.stdin });
commands.on("line", (line) => {
  const [command, option] = line.trim().split(/\s+/);
  if (command !== "memory") return;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (option === "gc" && gc !== undefined) gc();
  process.stdout.write(`${JSON.stringify(process.memoryUsage())}\n`);
});
// serve() closes the app and exits on SIGTERM.
commands.on("close", () => process.kill(process.pid, "SIGTERM"));
process.stdout.write(`${JSON.stringify({ pid: process.pid })}\n`);
