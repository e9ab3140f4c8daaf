/**
 * Display of Docker's JSON progress streams (pull, push, import, build), ported
 * from the docker CLI's jsonmessage.DisplayJSONMessagesStream: on a terminal,
 * one line per layer id updated in place with a progress bar; otherwise plain
 * status lines (progress updates are dropped). An `errorDetail` ends the stream
 * with an error.
 */
import { formatRfc3339NanoLocal, humanSize } from "./format.js";
import { StreamError } from "../client/index.js";

export interface ProgressDetail {
  current?: number;
  total?: number;
  start?: number;
  units?: string;
  hidecounts?: boolean;
}

export interface JSONMessage {
  stream?: string;
  status?: string;
  progressDetail?: ProgressDetail;
  progress?: string;
  id?: string;
  from?: string;
  time?: number;
  timeNano?: number;
  errorDetail?: { code?: number; message?: string };
  error?: string;
  aux?: unknown;
}

export { StreamError };

export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** jsonmessage.JSONProgress.String(). */
export function progressString(p: ProgressDetail, width: number, now = Date.now()): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) {
    if (!p.units) return humanSize(current, 4).padStart(8);
    return `${current} ${p.units}`;
  }
  let percentage = Math.trunc((Math.trunc((current / total) * 100)) / 2);
  if (percentage > 50) percentage = 50;
  let pbBox = "";
  if (width > 110) {
    const spaces = Math.max(0, 50 - percentage);
    pbBox = `[${"=".repeat(percentage)}>${" ".repeat(spaces)}] `;
  }
  let numbersBox = "";
  if (!p.hidecounts) {
    if (!p.units) {
      const cur = humanSize(current, 4);
      numbersBox = current > total ? cur.padStart(8) : `${cur.padStart(8)}/${humanSize(total, 4)}`;
    } else {
      numbersBox = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
    }
  }
  let timeLeftBox = "";
  if (current > 0 && p.start && p.start > 0 && percentage < 50 && width > 50) {
    const fromStart = now - p.start * 1000;
    const perEntry = fromStart / current;
    const leftS = Math.trunc(((total - current) * perEntry) / 1000);
    timeLeftBox = ` ${goDurationString(leftS)}`;
  }
  return pbBox + numbersBox + timeLeftBox;
}

/** Go's time.Duration.String() for whole seconds: "1m30s", "2h0m5s", "0s". */
function goDurationString(seconds: number): string {
  if (seconds <= 0) return "0s";
  const h = Math.trunc(seconds / 3600);
  const m = Math.trunc((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

const ESC = "\x1b[";

/**
 * Renders a JSON message stream. Feed messages with `display()`; it throws a
 * StreamError for an error message. `aux` messages go to the optional callback.
 */
export class ProgressDisplay {
  private ids = new Map<string, number>();
  private readonly tty: boolean;

  constructor(
    private readonly out: ProgressOut,
    private readonly opts: { tty?: boolean; onAux?: (aux: unknown) => void } = {},
  ) {
    this.tty = opts.tty ?? out.isTTY === true;
  }

  private width(): number {
    return this.out.columns ?? 200;
  }

  display(jm: JSONMessage): void {
    if (jm.aux !== undefined) {
      this.opts.onAux?.(jm.aux);
      return;
    }
    const hasProgress = jm.progressDetail !== undefined && jm.progressDetail !== null;
    let diff = 0;
    if (jm.id && (hasProgress || jm.progress)) {
      let line = this.ids.get(jm.id);
      if (line === undefined) {
        line = this.ids.size;
        this.ids.set(jm.id, line);
        if (this.tty) this.out.write("\n");
      }
      diff = this.ids.size - line;
      if (this.tty && diff > 0) this.out.write(`${ESC}${diff}A`);
    } else {
      // Output that is not per-id progress ends the in-place block.
      this.ids = new Map();
    }
    this.displayOne(jm, hasProgress);
    if (jm.id && this.tty && diff > 0) this.out.write(`${ESC}${diff}B`);
  }

  private displayOne(jm: JSONMessage, hasProgress: boolean): void {
    if (jm.errorDetail || jm.error) {
      throw new StreamError(jm.errorDetail?.message ?? jm.error ?? "unknown error", jm.errorDetail?.code);
    }
    let endl = "";
    const progress = hasProgress ? progressString(jm.progressDetail as ProgressDetail, this.width()) : "";
    if (this.tty && !jm.stream && hasProgress) {
      this.out.write(`${ESC}2K\r`);
      endl = "\r";
    } else if (hasProgress && progress !== "") {
      // No progress bars off a terminal.
      return;
    }
    let s = "";
    if (jm.timeNano) s += `${formatRfc3339NanoLocal(jm.timeNano)} `;
    else if (jm.time) s += `${formatRfc3339NanoLocal(BigInt(jm.time) * 1_000_000_000n)} `;
    if (jm.id) s += `${jm.id}: `;
    if (jm.from) s += `(from ${jm.from}) `;
    if (hasProgress && this.tty) s += `${jm.status ?? ""} ${progress}${endl}`;
    else if (jm.progress) s += `${jm.status ?? ""} ${jm.progress}${endl}`;
    else if (jm.stream) s += `${jm.stream}${endl}`;
    else s += `${jm.status ?? ""}${endl}\n`;
    this.out.write(s);
  }
}

/** Display a whole stream; rejects with StreamError on an in-band error. */
export async function displayJsonStream(stream: AsyncIterable<JSONMessage>, out: ProgressOut, opts: { tty?: boolean; onAux?: (aux: unknown) => void } = {}): Promise<void> {
  const d = new ProgressDisplay(out, opts);
  for await (const jm of stream) d.display(jm);
}
