/** Signal names and numbers as docker kill / StopSignal take them, and the runtime's JSON and error text. */
import { EngineError } from "../util/errors.js";
import type { OciProcess, OciSpec } from "./spec.js";

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** Parse "SIGTERM", "TERM", "15", "SIGRTMIN+3" into a signal number. */
export function parseSignal(s: string): number {
  const t = s.trim().toUpperCase().replace(/^SIG/, "");
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 64) return n;
  } else if (SIGNALS[t] !== undefined) return SIGNALS[t];
  else {
    const m = t.match(/^RTMIN(?:\+(\d+))?$/) ?? t.match(/^RTMAX(?:-(\d+))?$/);
    if (m) {
      const off = Number(m[1] ?? 0);
      const n = t.startsWith("RTMIN") ? 34 + off : 64 - off;
      if (n >= 34 && n <= 64) return n;
    }
  }
  throw new EngineError("invalid", `Invalid signal: ${s}`);
}

/**
 * JSON for the OCI runtime. An rlimit of -1 stands for RLIM_INFINITY (2^64-1), which
 * a JS number cannot carry exactly (a config.json read back with JSON.parse holds
 * 2^64 instead); both are written out as the exact integer.
 */
export function ociJson(v: OciSpec | OciProcess): string {
  return JSON.stringify(v).replace(/"(soft|hard)":(-1|18446744073709552000)(?=[,}])/g, `"$1":18446744073709551615`);
}

/**
 * The errors in an OCI runtime's log-style stderr (`time=… level=error msg="…"`, as
 * runc writes them), one per line; the text as it is when it has none.
 */
export function runtimeErrorText(stderr: string): string {
  const msgs = [...stderr.matchAll(/level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/g)].map((m) => {
    const quoted = m[1] ?? "";
    try {
      return JSON.parse(`"${quoted}"`) as string;
    } catch {
      return quoted;
    }
  });
  return msgs.length > 0 ? msgs.join("\n") : stderr.trim();
}
