/** The exec terminal: xterm.js over the dashboard's /ws/exec WebSocket (a shell with a TTY), resized with its box. */
import { useEffect, useRef, useState } from "preact/hooks";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { socket } from "./api.js";

export function TerminalView({ id }: { id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState("connecting");
  useEffect(() => {
    if (!box.current) return;
    const css = getComputedStyle(box.current);
    const term = new Terminal({ cursorBlink: true, fontSize: 13, theme: { background: css.getPropertyValue("--term-bg").trim() || "#111", foreground: css.getPropertyValue("--term-fg").trim() || "#eee" } });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current);
    fit.fit();
    const ws = socket(`/ws/exec/${id}?cols=${term.cols}&rows=${term.rows}`);
    const enc = new TextEncoder();
    ws.onopen = () => {
      setStatus("connected");
      term.focus();
    };
    ws.onmessage = (m) => term.write(m.data instanceof ArrayBuffer ? new Uint8Array(m.data) : String(m.data));
    ws.onclose = (e) => setStatus(`closed${e.reason ? `: ${e.reason}` : ""}`);
    const data = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
    const resized = term.onResize(({ cols, rows }) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "resize", cols, rows })));
    const obs = new ResizeObserver(() => fit.fit());
    obs.observe(box.current);
    return () => {
      obs.disconnect();
      data.dispose();
      resized.dispose();
      ws.close();
      term.dispose();
    };
  }, [id]);
  return (
    <div>
      <p class="muted" data-testid="terminal-status">
        /bin/sh · {status}
      </p>
      <div class="terminal" ref={box} aria-label="Terminal" />
    </div>
  );
}
