/** Small shared pieces: a canvas sparkline, a virtualised list, a confirmation dialog, an async loader. */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

export function Sparkline({ values, label, max }: { values: number[]; label: string; max?: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx) return;
    const w = c.width;
    const h = c.height;
    ctx.clearRect(0, 0, w, h);
    if (values.length < 2) return;
    const top = Math.max(max ?? 0, ...values, 1e-9);
    ctx.strokeStyle = getComputedStyle(c).color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = (i / (values.length - 1)) * (w - 2) + 1;
      const y = h - 1 - (v / top) * (h - 2);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  });
  return <canvas ref={ref} class="spark" width={72} height={20} role="img" aria-label={label} />;
}

/** Rows of a fixed height; only those in view (plus a few) are in the DOM. */
export function VirtualList<T>({ items, rowHeight, render, height }: { items: T[]; rowHeight: number; render: (item: T, i: number) => ComponentChildren; height: number }) {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / rowHeight) - 5);
  const last = Math.min(items.length, Math.ceil((top + height) / rowHeight) + 5);
  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div class="vrow" role="row" aria-rowindex={i + 1} style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px` }} key={i}>
        {render(items[i] as T, i)}
      </div>,
    );
  }
  return (
    <div class="vlist" role="rowgroup" style={{ height: `${height}px` }} onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}>
      <div style={{ height: `${items.length * rowHeight}px`, position: "relative" }}>{rows}</div>
    </div>
  );
}

export interface Confirm {
  text: string;
  run: () => Promise<unknown>;
}

/** A modal (keyboard: Tab stays inside, Escape cancels) that runs its action when confirmed. */
export function ConfirmDialog({ confirm, onDone }: { confirm: Confirm | undefined; onDone: (error?: string) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (confirm && !d.open) d.showModal();
    if (!confirm && d.open) d.close();
  }, [confirm]);
  return (
    <dialog ref={ref} class="confirm" onCancel={() => onDone()} aria-label="Confirm">
      <p>{confirm?.text}</p>
      <div class="buttons">
        <button type="button" onClick={() => onDone()} disabled={busy}>
          Cancel
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => {
            if (!confirm) return;
            setBusy(true);
            confirm
              .run()
              .then(
                () => onDone(),
                (e: unknown) => onDone(e instanceof Error ? e.message : String(e)),
              )
              .finally(() => setBusy(false));
          }}
        >
          Confirm
        </button>
      </div>
    </dialog>
  );
}

/** Load once per `key` change; `reload` loads again. */
export function useAsync<T>(load: () => Promise<T>, key: unknown[]): { value?: T; error?: string; reload: () => void } {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (v) => live && (setValue(v), setError(undefined)),
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => void (live = false);
  }, [...key, n]);
  return { value, error, reload: () => setN((x) => x + 1) };
}

export function ErrorLine({ error }: { error?: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}
