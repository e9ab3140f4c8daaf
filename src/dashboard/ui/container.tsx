/** One container's page: overview with a live chart, inspect, processes, mounts, environment (masked), logs, terminal. */
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { StatsChart } from "./chart.js";
import { ACTIONS, PortLinks, useActions } from "./containers.js";
import { LogsView } from "./logs.js";
import { containerName, state, useStore } from "./store.js";
import { TerminalView } from "./terminal.js";
import { ErrorLine, useAsync } from "./widgets.js";

interface Inspect {
  Id: string;
  Name: string;
  State: { Status: string; StartedAt: string; Health?: { Status: string } };
  Config: { Env?: string[]; Tty?: boolean; Image: string; Cmd?: string[] };
  Mounts: { Type: string; Source: string; Destination: string; RW: boolean; Name?: string }[];
}

const TABS = ["overview", "inspect", "processes", "mounts", "environment", "logs", "terminal"] as const;
type Tab = (typeof TABS)[number];

export function ContainerPage({ id, tab, readOnly }: { id: string; tab: string; readOnly: boolean }) {
  const version = useStore();
  const summary = state.containers.find((c) => c.Id === id || containerName(c) === id) ?? state.containers.find((c) => c.Id.startsWith(id));
  const info = useAsync(() => api<Inspect>("GET", `/containers/${id}/json`), [id, summary?.State]);
  const current: Tab = (TABS as readonly string[]).includes(tab) ? (tab as Tab) : "overview";
  const { ask, dialog, error } = useActions();
  const tabs = readOnly ? TABS.filter((t) => t !== "terminal") : TABS;
  return (
    <section aria-labelledby="h-container">
      <div class="toolbar">
        <h1 id="h-container">{info.value?.Name.replace(/^\//, "") ?? id.slice(0, 12)}</h1>
        {summary && <span class={`badge ${summary.State}`} data-testid="container-state">{summary.State}</span>}
        {info.value?.State.Health && <span class="badge">{info.value.State.Health.Status}</span>}
        {summary && <PortLinks c={summary} />}
        <span class="spacer" />
        {!readOnly &&
          summary &&
          ACTIONS.filter((a) => a.when(summary.State)).map((a) => (
            <button type="button" key={a.label} class={a.label === "Remove" ? "danger" : ""} onClick={() => ask(summary, a)}>
              {a.label}
            </button>
          ))}
      </div>
      <ErrorLine error={error || info.error} />
      <nav class="tabs" role="tablist" aria-label="Container views">
        {tabs.map((t) => (
          <a key={t} role="tab" aria-selected={t === current} href={`#/c/${id}/${t}`} class={t === current ? "active" : ""}>
            {t}
          </a>
        ))}
      </nav>
      <div role="tabpanel">
        {current === "overview" && (
          <>
            <StatsChart series={state.series.get(summary?.Id ?? id)} version={version} />
            <dl class="facts">
              <dt>Image</dt>
              <dd>{info.value?.Config.Image}</dd>
              <dt>Command</dt>
              <dd>{info.value?.Config.Cmd?.join(" ")}</dd>
              <dt>Status</dt>
              <dd>{summary?.Status}</dd>
              <dt>Started</dt>
              <dd>{info.value?.State.StartedAt}</dd>
            </dl>
          </>
        )}
        {current === "inspect" && <pre class="json">{JSON.stringify(info.value, null, 2)}</pre>}
        {current === "processes" && <Processes id={id} running={summary?.State === "running"} />}
        {current === "mounts" && (
          <table class="grid">
            <thead>
              <tr>
                <th>Type</th>
                <th>Source</th>
                <th>Destination</th>
                <th>Mode</th>
              </tr>
            </thead>
            <tbody>
              {(info.value?.Mounts ?? []).map((m) => (
                <tr key={m.Destination}>
                  <td>{m.Type}</td>
                  <td>{m.Name ?? m.Source}</td>
                  <td>{m.Destination}</td>
                  <td>{m.RW ? "rw" : "ro"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {current === "environment" && <Environment env={info.value?.Config.Env ?? []} />}
        {current === "logs" && info.value && <LogsView id={id} tty={info.value.Config.Tty === true} />}
        {current === "terminal" && !readOnly && (summary?.State === "running" ? <TerminalView id={id} /> : <p>The container is not running.</p>)}
      </div>
      {dialog}
    </section>
  );
}

function Processes({ id, running }: { id: string; running: boolean }) {
  const top = useAsync(() => (running ? api<{ Titles: string[]; Processes: string[][] }>("GET", `/containers/${id}/top`) : Promise.resolve(undefined)), [id, running]);
  if (!running) return <p>The container is not running.</p>;
  return (
    <>
      <ErrorLine error={top.error} />
      <button type="button" onClick={top.reload}>
        Refresh
      </button>
      <table class="grid">
        <thead>
          <tr>{top.value?.Titles.map((t) => <th key={t}>{t}</th>)}</tr>
        </thead>
        <tbody>
          {top.value?.Processes.map((p, i) => (
            <tr key={i}>
              {p.map((v, j) => (
                <td key={j}>{v}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Environment({ env }: { env: string[] }) {
  const [shown, setShown] = useState(false);
  return (
    <>
      <label>
        <input type="checkbox" checked={shown} onChange={(e) => setShown((e.target as HTMLInputElement).checked)} /> Show values
      </label>
      <table class="grid" data-testid="env">
        <tbody>
          {env.map((e) => {
            const i = e.indexOf("=");
            const k = i < 0 ? e : e.slice(0, i);
            return (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td>{shown ? e.slice(i + 1) : "••••••"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
