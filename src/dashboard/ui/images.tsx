/** Images: tags, size, shared vs unique bytes (bars), history per layer, the containers using each; remove and prune. */
import { useState } from "preact/hooks";
import { ago, api, bytes } from "./api.js";
import { containerName, state, useStore } from "./store.js";
import { type Confirm, ConfirmDialog, ErrorLine, useAsync } from "./widgets.js";

export interface DfImage {
  Id: string;
  RepoTags: string[] | null;
  Size: number;
  SharedSize: number;
  Containers: number;
  Created: number;
}

interface HistoryEntry {
  Id: string;
  Created: number;
  CreatedBy: string;
  Size: number;
}

function Bar({ parts, max }: { parts: { v: number; cls: string; label: string }[]; max: number }) {
  return (
    <div class="bar" role="img" aria-label={parts.map((p) => `${p.label} ${bytes(p.v)}`).join(", ")}>
      {parts.map((p) => (
        <span key={p.cls} class={p.cls} style={{ width: `${max > 0 ? (p.v / max) * 100 : 0}%` }} title={`${p.label}: ${bytes(p.v)}`} />
      ))}
    </div>
  );
}

function History({ id }: { id: string }) {
  const h = useAsync(() => api<HistoryEntry[]>("GET", `/images/${encodeURIComponent(id)}/history`), [id]);
  const max = Math.max(1, ...(h.value ?? []).map((e) => e.Size));
  return (
    <div class="history">
      <ErrorLine error={h.error} />
      <table class="grid">
        <thead>
          <tr>
            <th>Layer</th>
            <th>Size</th>
            <th>Created by</th>
          </tr>
        </thead>
        <tbody>
          {(h.value ?? []).map((e, i) => (
            <tr key={i}>
              <td class="barcell">
                <Bar parts={[{ v: e.Size, cls: "unique", label: "layer" }]} max={max} />
              </td>
              <td>{bytes(e.Size)}</td>
              <td class="ellipsis" title={e.CreatedBy}>
                {e.CreatedBy}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ImagesView({ readOnly }: { readOnly: boolean }) {
  useStore();
  const df = useAsync(() => api<{ Images: DfImage[] | null }>("GET", "/system/df"), []);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [confirm, setConfirm] = useState<Confirm | undefined>(undefined);
  const [error, setError] = useState("");
  const images = [...(df.value?.Images ?? [])].sort((a, b) => b.Created - a.Created);
  const max = Math.max(1, ...images.map((i) => i.Size));
  const name = (i: DfImage) => (i.RepoTags && i.RepoTags.length > 0 ? i.RepoTags.join(", ") : "<none>");
  return (
    <section aria-labelledby="h-images">
      <div class="toolbar">
        <h1 id="h-images">Images</h1>
        <span class="muted">{images.length} images</span>
        <span class="legend">
          <i class="shared" /> shared <i class="unique" /> unique
        </span>
        <span class="spacer" />
        {!readOnly && (
          <button type="button" onClick={() => setConfirm({ text: "Remove all dangling images?", run: () => api("POST", "/images/prune") })}>
            Prune dangling
          </button>
        )}
      </div>
      <ErrorLine error={error || df.error} />
      <table class="grid">
        <thead>
          <tr>
            <th>Tags</th>
            <th>ID</th>
            <th>Created</th>
            <th>Size</th>
            <th>Layers: shared / unique</th>
            <th>Used by</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {images.map((i) => {
            const users = state.containers.filter((c) => c.ImageID === i.Id);
            const shared = Math.max(0, i.SharedSize);
            return [
              <tr key={i.Id} data-image={name(i)}>
                <td>
                  <button type="button" class="link" aria-expanded={open === i.Id} onClick={() => setOpen(open === i.Id ? undefined : i.Id)}>
                    {name(i)}
                  </button>
                </td>
                <td class="mono">{i.Id.replace(/^sha256:/, "").slice(0, 12)}</td>
                <td>{ago(i.Created)}</td>
                <td>{bytes(i.Size)}</td>
                <td class="barcell">
                  <Bar parts={[{ v: shared, cls: "shared", label: "shared" }, { v: i.Size - shared, cls: "unique", label: "unique" }]} max={max} />
                </td>
                <td>
                  {users.map((c) => (
                    <a key={c.Id} href={`#/c/${c.Id}`} class="chip">
                      {containerName(c)}
                    </a>
                  ))}
                </td>
                <td>
                  {!readOnly && (
                    <button
                      type="button"
                      class="danger small"
                      aria-label={`Remove image ${name(i)}`}
                      onClick={() => setConfirm({ text: `Remove image ${name(i)}?`, run: () => api("DELETE", `/images/${encodeURIComponent(i.RepoTags?.[0] ?? i.Id)}`) })}
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>,
              open === i.Id && (
                <tr key={`${i.Id}-h`}>
                  <td colSpan={7}>
                    <History id={i.Id} />
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      <ConfirmDialog
        confirm={confirm}
        onDone={(e) => {
          setConfirm(undefined);
          setError(e ?? "");
          df.reload();
        }}
      />
    </section>
  );
}
