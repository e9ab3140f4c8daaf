import { spawn } from "node:child_process";
import { EngineError } from "./errors.js";

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run a program (no shell); reject with its stderr when it exits non-zero. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new EngineError("internal", `${cmd}: ${e.message}`, { cause: e })));
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new EngineError("internal", `${cmd} ${args.join(" ")}: ${stderr.trim() || `exit ${code ?? signal}`}`));
    });
    child.stdin.end(opts.input);
  });
}
