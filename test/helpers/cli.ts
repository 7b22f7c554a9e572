// The imagegate CLI as a process, for the CLI tests: the compiled cli.js run
// by the Node that runs the suite (not whichever `node` is first on PATH: a
// Node 20 CLI beside a Node 24 suite), with only the environment given.
import { execFile } from "node:child_process";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCliProcess(
  entry: string,
  args: string[],
  env: Record<string, string>,
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [entry, ...args],
      { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
