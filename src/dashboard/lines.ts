/** Newline-delimited JSON from an Engine API stream (/events, /containers/{id}/stats). */
import type { Readable } from "node:stream";

export function onJsonLines(stream: Readable, each: (value: unknown) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line === "") continue;
      try {
        each(JSON.parse(line));
      } catch {
        // a malformed line is skipped; the next one stands alone
      }
    }
    // A stream that never sends a newline must not grow without bound.
    if (rest.length > 1 << 20) rest = "";
  });
}
