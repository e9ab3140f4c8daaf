/** Docker's JSON progress messages (jsonmessage) as dockerd writes them for pull, push and load. */

export type ProgressMessage = Record<string, unknown>;
export type ProgressSink = (m: ProgressMessage) => void;

/** Go's units.HumanSize: 4 significant digits, decimal units ("1.235MB", "512B"). */
export function humanSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
  let size = n;
  let i = 0;
  while (size >= 1000 && i < units.length - 1) {
    size /= 1000;
    i++;
  }
  return `${String(Number(size.toPrecision(4)))}${units[i]}`;
}

/** JSONProgress.String() at dockerd's width: "[=====>      ]  1.2MB/4.5MB". */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) return humanSize(current).padStart(8);
  let pct = Math.floor(Math.floor((current / total) * 100) / 2);
  if (pct > 50) pct = 50;
  const box = `[${"=".repeat(pct)}>${" ".repeat(Math.max(0, 50 - pct))}] `;
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return box + numbers;
}

export function status(id: string | undefined, text: string): ProgressMessage {
  return id === undefined ? { status: text } : { status: text, progressDetail: {}, id };
}

export function progress(id: string, text: string, current: number, total: number): ProgressMessage {
  return { status: text, progressDetail: { current, total }, progress: progressBar(current, total), id };
}

/** Calls `fn` at most every `ms` (and always for the final value). */
export function throttled(ms: number, fn: (n: number) => void): { update(n: number): void; flush(n: number): void } {
  let last = 0;
  return {
    update(n) {
      const now = Date.now();
      if (now - last >= ms) {
        last = now;
        fn(n);
      }
    },
    flush(n) {
      last = Date.now();
      fn(n);
    },
  };
}

export const shortId = (digest: string): string => digest.replace(/^sha256:/, "").slice(0, 12);
