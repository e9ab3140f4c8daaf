/**
 * A container's logs, followed live: stdout and stderr coloured apart (the Engine API's multiplexed
 * frames when the container has no TTY), timestamps on request, a search that filters and highlights,
 * and a download of what was received.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { stream } from "./api.js";

interface Line {
  stream: "stdout" | "stderr";
  ts: string;
  text: string;
}

const MAX_LINES = 5000;

/** Splits the Engine API's log body into lines: 8-byte frame headers (stream, length) unless tty. */
class LogParser {
  private buf = new Uint8Array(0);
  private partial: Record<string, string> = { stdout: "", stderr: "" };
  private dec = new TextDecoder();
  constructor(private readonly tty: boolean) {}
  push(chunk: Uint8Array, out: (l: Line) => void): void {
    if (this.tty) return this.text("stdout", this.dec.decode(chunk, { stream: true }), out);
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    let off = 0;
    while (b.length - off >= 8) {
      const kind = b[off] === 2 ? "stderr" : "stdout";
      const len = new DataView(b.buffer, off + 4, 4).getUint32(0);
      if (b.length - off - 8 < len) break;
      this.text(kind, new TextDecoder().decode(b.subarray(off + 8, off + 8 + len)), out);
      off += 8 + len;
    }
    this.buf = b.slice(off);
  }
  private text(kind: "stdout" | "stderr", s: string, out: (l: Line) => void): void {
    const parts = (this.partial[kind] + s).split("\n");
    this.partial[kind] = parts.pop() ?? "";
    for (const p of parts) {
      const m = p.match(/^(\d{4}-\d\d-\d\dT[\d:.]+Z) (.*)$/s);
      out({ stream: kind, ts: m?.[1] ?? "", text: (m?.[2] ?? p).replace(/\r$/, "") });
    }
  }
}

export function LogsView({ id, tty }: { id: string; tty: boolean }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [search, setSearch] = useState("");
  const [showTs, setShowTs] = useState(false);
  const [follow, setFollow] = useState(true);
  const [error, setError] = useState("");
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const ctl = new AbortController();
    const parser = new LogParser(tty);
    let pending: Line[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const add = pending;
      pending = [];
      setLines((old) => {
        const next = old.concat(add);
        return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
      });
    };
    setLines([]);
    stream(`/containers/${id}/logs?stdout=1&stderr=1&timestamps=1&follow=1&tail=1000`, (chunk) => {
      parser.push(chunk, (l) => pending.push(l));
      if (!frame) frame = requestAnimationFrame(flush);
    }, ctl.signal).catch((e: unknown) => {
      if (!ctl.signal.aborted) setError(e instanceof Error ? e.message : String(e));
    });
    return () => {
      ctl.abort();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [id, tty]);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  const q = search.toLowerCase();
  const shown = q ? lines.filter((l) => l.text.toLowerCase().includes(q)) : lines;
  const download = () => {
    const text = lines.map((l) => `${l.ts} ${l.stream} ${l.text}`).join("\n") + "\n";
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    a.download = `${id.slice(0, 12)}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  return (
    <div class="logs">
      <div class="toolbar">
        <input type="search" placeholder="Search logs" aria-label="Search logs" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <label>
          <input type="checkbox" checked={showTs} onChange={(e) => setShowTs((e.target as HTMLInputElement).checked)} /> Timestamps
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow
        </label>
        <button type="button" onClick={download}>
          Download
        </button>
        <span class="muted">{shown.length} lines</span>
      </div>
      {error && <p class="error">{error}</p>}
      <div class="logbox" ref={box} role="log" aria-live="off" tabIndex={0}>
        {shown.map((l, i) => (
          <div key={i} class={`logline ${l.stream}`}>
            {showTs && <span class="ts">{l.ts} </span>}
            {q ? <Highlight text={l.text} q={q} /> : l.text}
          </div>
        ))}
      </div>
    </div>
  );
}

function Highlight({ text, q }: { text: string; q: string }) {
  const i = text.toLowerCase().indexOf(q);
  if (i < 0) return <>{text}</>;
  return (
    <>
      {text.slice(0, i)}
      <mark>{text.slice(i, i + q.length)}</mark>
      {text.slice(i + q.length)}
    </>
  );
}
