/** The containers view: a live, virtualised list with stats sparklines and actions behind a confirmation. */
import { useState } from "preact/hooks";
import { api, bytes } from "./api.js";
import { type ContainerSummary, containerName, refreshContainers, state, useStore } from "./store.js";
import { type Confirm, ConfirmDialog, ErrorLine, Sparkline, VirtualList } from "./widgets.js";

export interface Action {
  label: string;
  method: string;
  path: (id: string) => string;
  when: (s: string) => boolean;
}

export const ACTIONS: Action[] = [
  { label: "Start", method: "POST", path: (id) => `/containers/${id}/start`, when: (s) => s === "created" || s === "exited" },
  { label: "Stop", method: "POST", path: (id) => `/containers/${id}/stop`, when: (s) => s === "running" || s === "restarting" },
  { label: "Restart", method: "POST", path: (id) => `/containers/${id}/restart`, when: (s) => s === "running" || s === "exited" },
  { label: "Pause", method: "POST", path: (id) => `/containers/${id}/pause`, when: (s) => s === "running" },
  { label: "Unpause", method: "POST", path: (id) => `/containers/${id}/unpause`, when: (s) => s === "paused" },
  { label: "Remove", method: "DELETE", path: (id) => `/containers/${id}?force=1`, when: () => true },
];

function health(status: string): string {
  const m = status.match(/\((healthy|unhealthy|health: starting)\)/);
  return m?.[1] ?? "";
}

export function PortLinks({ c }: { c: ContainerSummary }) {
  const seen = new Set<string>();
  return (
    <>
      {c.Ports.filter((p) => p.PublicPort !== undefined).map((p) => {
        const k = `${p.PublicPort}/${p.Type}`;
        if (seen.has(k)) return null;
        seen.add(k);
        const host = p.IP && p.IP !== "0.0.0.0" && p.IP !== "::" ? p.IP : location.hostname;
        return p.Type === "tcp" ? (
          <a key={k} href={`http://${host.includes(":") ? `[${host}]` : host}:${p.PublicPort}/`} target="_blank" rel="noopener noreferrer">
            {p.PublicPort}→{p.PrivatePort}
          </a>
        ) : (
          <span key={k}>
            {p.PublicPort}→{p.PrivatePort}/{p.Type}
          </span>
        );
      })}
    </>
  );
}

export function useActions(): { ask: (c: ContainerSummary, a: Action) => void; dialog: preact.JSX.Element; error: string } {
  const [confirm, setConfirm] = useState<Confirm | undefined>(undefined);
  const [error, setError] = useState("");
  const ask = (c: ContainerSummary, a: Action) =>
    setConfirm({
      text: `${a.label} container ${containerName(c)}?`,
      run: async () => {
        await api(a.method, a.path(c.Id));
        await refreshContainers();
      },
    });
  const dialog = (
    <ConfirmDialog
      confirm={confirm}
      onDone={(e) => {
        setConfirm(undefined);
        setError(e ?? "");
      }}
    />
  );
  return { ask, dialog, error };
}

export function ContainersView({ readOnly }: { readOnly: boolean }) {
  useStore();
  const [filter, setFilter] = useState("");
  const { ask, dialog, error } = useActions();
  const f = filter.toLowerCase();
  const list = state.containers.filter((c) => !f || containerName(c).toLowerCase().includes(f) || c.Image.toLowerCase().includes(f) || c.State.includes(f));
  const height = Math.max(240, window.innerHeight - 190);
  return (
    <section aria-labelledby="h-containers">
      <div class="toolbar">
        <h1 id="h-containers">Containers</h1>
        <span class="muted" data-testid="container-count">
          {list.length} of {state.containers.length} · {state.statsStreams} stats streams
        </span>
        <input type="search" placeholder="Filter by name, image, state" aria-label="Filter containers" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      </div>
      <ErrorLine error={error || state.error} />
      <div class="table" role="table" aria-label="Containers" aria-rowcount={list.length}>
        <div class="thead crow" role="row">
          <span role="columnheader">Name</span>
          <span role="columnheader">State</span>
          <span role="columnheader">Image</span>
          <span role="columnheader">Ports</span>
          <span role="columnheader">Status</span>
          <span role="columnheader">CPU</span>
          <span role="columnheader">Memory</span>
          <span role="columnheader">Network</span>
          <span role="columnheader">Actions</span>
        </div>
        <VirtualList
          items={list}
          rowHeight={38}
          height={height}
          render={(c) => {
            const s = state.series.get(c.Id);
            const last = s?.last;
            const running = c.State === "running";
            return (
              <div class="crow" data-name={containerName(c)} data-state={c.State}>
                <span role="cell" class="name">
                  <a href={`#/c/${c.Id}`}>{containerName(c)}</a>
                </span>
                <span role="cell">
                  <span class={`badge ${c.State}`}>{c.State}</span> {health(c.Status) && <span class={`badge ${health(c.Status).replace(/\W/g, "")}`}>{health(c.Status)}</span>}
                </span>
                <span role="cell" class="ellipsis" title={c.Image}>
                  {c.Image}
                </span>
                <span role="cell" class="ports">
                  <PortLinks c={c} />
                </span>
                <span role="cell" class="ellipsis">
                  {c.Status}
                </span>
                <span role="cell" class="metric" data-metric="cpu">
                  {running && s ? (
                    <>
                      <Sparkline values={s.cpu} label={`CPU of ${containerName(c)}`} max={100} />
                      <span class="num">{last?.cpu.toFixed(1)}%</span>
                    </>
                  ) : null}
                </span>
                <span role="cell" class="metric">
                  {running && s ? (
                    <>
                      <Sparkline values={s.mem} label={`memory of ${containerName(c)}`} />
                      <span class="num">{bytes(last?.mem ?? 0)}</span>
                    </>
                  ) : null}
                </span>
                <span role="cell" class="metric">
                  {running && s ? (
                    <>
                      <Sparkline values={s.net} label={`network of ${containerName(c)}`} />
                      <span class="num">{bytes(s.net[s.net.length - 1] ?? 0)}/s</span>
                    </>
                  ) : null}
                </span>
                <span role="cell" class="actions">
                  {!readOnly &&
                    ACTIONS.filter((a) => a.when(c.State)).map((a) => (
                      <button type="button" key={a.label} class={a.label === "Remove" ? "danger small" : "small"} onClick={() => ask(c, a)} aria-label={`${a.label} ${containerName(c)}`}>
                        {a.label}
                      </button>
                    ))}
                </span>
              </div>
            );
          }}
        />
      </div>
      {dialog}
    </section>
  );
}
