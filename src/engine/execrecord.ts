/**
 * An exec's record as dockerd keeps it (in memory): what POST /containers/{id}/exec asked for, its
 * state (running, exit code, pid) and the monitored process while it exists; the request schemas,
 * and the environment and detach keys an exec gets from its container.
 */
import { z } from "zod";
import { invalid } from "../util/errors.js";
import { type ExecProcess, DEFAULT_PATH_ENV } from "../runtime/index.js";
import { parseDetachKeys } from "./stdio.js";
import type { ContainerRecord } from "./types.js";

const strArr = z.array(z.string());

export const ExecCreateSchema = z.looseObject({
  AttachStdin: z.boolean().nullable().optional(),
  AttachStdout: z.boolean().nullable().optional(),
  AttachStderr: z.boolean().nullable().optional(),
  DetachKeys: z.string().nullable().optional(),
  Tty: z.boolean().nullable().optional(),
  ConsoleSize: z.array(z.number().int().nonnegative()).length(2).nullable().optional(),
  Env: strArr.nullable().optional(),
  // []string in dockerd (not a strslice): a plain string is refused.
  Cmd: strArr.nullable().optional(),
  Privileged: z.boolean().nullable().optional(),
  User: z.string().nullable().optional(),
  WorkingDir: z.string().nullable().optional(),
});
export type ExecCreateBody = z.infer<typeof ExecCreateSchema>;

export const ExecStartSchema = z.looseObject({
  Detach: z.boolean().nullable().optional(),
  Tty: z.boolean().nullable().optional(),
  ConsoleSize: z.array(z.number().int().nonnegative()).length(2).nullable().optional(),
});
export type ExecStartBody = z.infer<typeof ExecStartSchema>;

export interface ExecRecord {
  id: string;
  containerId: string;
  entrypoint: string;
  args: string[];
  tty: boolean;
  openStdin: boolean;
  openStdout: boolean;
  openStderr: boolean;
  privileged: boolean;
  /** As given, or the container's user (what inspect shows). */
  user: string;
  workingDir: string;
  env: string[];
  detachKeys: Buffer;
  consoleSize: [number, number] | undefined;
  running: boolean;
  exitCode: number | null;
  pid: number;
  /** Set once the exec ended and nothing refers to it any more (Docker's GC flag). */
  canRemove: boolean;
  /** The monitored process while its state dir exists. */
  process?: ExecProcess;
  /** Settles when the process started or failed to (resize waits for it). */
  started: Promise<void>;
  markStarted: () => void;
}

export function parseDetachKeysForExec(keys: string): Buffer {
  try {
    return parseDetachKeys(keys);
  } catch {
    throw invalid(`Invalid escape keys (${keys}) provided`);
  }
}

/** Docker's environment of an exec: PATH, HOSTNAME, TERM (tty), then the container's Env. */
export function containerEnv(rec: ContainerRecord, tty: boolean): string[] {
  const base = [DEFAULT_PATH_ENV, `HOSTNAME=${rec.Config.Hostname}`, ...(tty ? ["TERM=xterm"] : [])];
  return replaceOrAppendEnv(base, rec.Config.Env);
}

/** Docker's ReplaceOrAppendEnvValues: override by key, append new keys; a bare NAME unsets. */
export function replaceOrAppendEnv(defaults: string[], overrides: string[]): string[] {
  const out: (string | undefined)[] = [...defaults];
  const index = new Map<string, number>();
  out.forEach((e, i) => index.set((e as string).split("=", 1)[0] as string, i));
  for (const v of overrides) {
    const eq = v.indexOf("=");
    const key = eq < 0 ? v : v.slice(0, eq);
    const i = index.get(key);
    if (eq < 0) {
      if (i !== undefined) out[i] = undefined;
      continue;
    }
    if (i !== undefined && out[i] !== undefined) out[i] = v;
    else {
      index.set(key, out.length);
      out.push(v);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}
