/**
 * The CLI parity comparison: one command line run with `docker` and with `berth`
 * against the same berthd, outputs normalised (ids, times, program name) and
 * compared. Kept apart from the table (cliparity.table.ts) and the test.
 */

export interface ParityRow {
  /** The command line after `-H unix://SOCK`, split like a shell with single quotes. */
  cmd: string;
  /** docker command lines (run with docker) that set the state up before each side runs. */
  setup?: string[];
  /** docker command lines that undo what the row (and its set-up) did, after each side. */
  cleanup?: string[];
  /** docker command lines run after each side, their output compared with the row's. */
  after?: string[];
  /** Text for stdin. */
  input?: string;
  /** The row changes shared state: run docker's side and berth's side one after the other. */
  mutates?: boolean;
  /** Why berth's output deliberately differs (the row is run and counted, not compared). */
  different?: string;
}

/** Split a command line on blanks, keeping 'single-quoted' parts (may be empty) together. */
export function splitLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${line}`);
      cur += line.slice(i + 1, end);
      has = true;
      i = end;
    } else if (ch === " ") {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

const TIME_AGO = /\b(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?|days?|weeks?|months?|years?)) ago\b/g;
const UP_FOR = /\b(Up|Exited \(\d+\)|Created) (Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?))\b/g;

/** What may differ between two runs of the same line: ids, times, the program's name, column padding. */
export function normalise(text: string): string {
  return text
    .replace(/\bsha256:[0-9a-f]{64}\b/g, "<DIGEST>")
    .replace(/\b[0-9a-f]{64}\b/g, "<ID>")
    .replace(/\b[0-9a-f]{12}\b/g, "<SHORTID>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, "<TIME>")
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+/g, "<TIME>")
    .replace(TIME_AGO, "<AGO>")
    .replace(UP_FOR, "$1 <DURATION>")
    .replace(/\bdocker\b/g, "berth")
    .replace(/\bDocker\b/g, "Berth")
    .replace(/ {2,}/g, "  ")
    .replace(/ +$/gm, "");
}

/**
 * Rows that list or prune everything the daemon holds: they run first, one at a
 * time, while only the fixtures exist; all other rows act on named objects and
 * may run side by side (each with its own pc-x name).
 */
export function listsAll(cmd: string): boolean {
  return /^(ps|images|info|system (df|prune)|(container|image|volume|network|context) (ls|list|prune))\b/.test(cmd) || /^stats --no-stream( -a)? --format '[^']*'$/.test(cmd);
}
