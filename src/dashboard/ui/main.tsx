/** The dashboard's shell: token, theme, navigation (hash routes), the live feed, and the views. */
import "uplot/dist/uPlot.min.css";
import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, initToken } from "./api.js";
import { ContainerPage } from "./container.js";
import { ContainersView } from "./containers.js";
import { EventsView } from "./events.js";
import { ImagesView } from "./images.js";
import { RegistryView } from "./registry.js";
import { DiskView, NetworksView, VolumesView } from "./resources.js";
import { connectFeed, state, useStore } from "./store.js";

const NAV = [
  ["containers", "Containers"],
  ["images", "Images"],
  ["networks", "Networks"],
  ["volumes", "Volumes"],
  ["disk", "Disk usage"],
  ["events", "Events"],
  ["registry", "Registry"],
] as const;

function useRoute(): string[] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return hash.replace(/^#\/?/, "").split("/");
}

function ThemeToggle() {
  const [theme, setTheme] = useState(localStorage.getItem("berth-theme") ?? "auto");
  useEffect(() => {
    if (theme === "auto") delete document.documentElement.dataset["theme"];
    else document.documentElement.dataset["theme"] = theme;
    localStorage.setItem("berth-theme", theme);
  }, [theme]);
  const next = theme === "auto" ? "dark" : theme === "dark" ? "light" : "auto";
  return (
    <button type="button" onClick={() => setTheme(next)} aria-label={`Theme: ${theme} (switch to ${next})`}>
      Theme: {theme}
    </button>
  );
}

function App({ readOnly, registry }: { readOnly: boolean; registry: string | null }) {
  useStore();
  const [view = "containers", arg = "", sub = ""] = useRoute();
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <strong class="brand">Berth</strong>
        <nav aria-label="Views">
          {NAV.filter(([k]) => k !== "registry" || registry).map(([k, label]) => (
            <a key={k} href={`#/${k}`} class={view === k || (k === "containers" && view === "c") ? "active" : ""} aria-current={view === k ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="spacer" />
        {readOnly && <span class="badge">read-only</span>}
        <span class={`dot ${state.connected ? "on" : "off"}`} role="status" aria-label={state.connected ? "live" : "disconnected"} title={state.connected ? "live" : "disconnected"} />
        <ThemeToggle />
      </header>
      <main id="main" tabIndex={-1}>
        {view === "c" && arg ? <ContainerPage id={arg} tab={sub} readOnly={readOnly} /> : null}
        {view === "containers" && <ContainersView readOnly={readOnly} />}
        {view === "images" && <ImagesView readOnly={readOnly} />}
        {view === "networks" && <NetworksView />}
        {view === "volumes" && <VolumesView />}
        {view === "disk" && <DiskView />}
        {view === "events" && <EventsView />}
        {view === "registry" && registry && <RegistryView url={registry} />}
      </main>
    </>
  );
}

function Denied({ message }: { message: string }) {
  return (
    <main class="denied">
      <h1>Berth dashboard</h1>
      <p role="alert">{message}</p>
      <p>Open the URL berthd (or `berth dashboard`) printed, with its #token=….</p>
    </main>
  );
}

async function boot(): Promise<void> {
  const root = document.getElementById("app") as HTMLElement;
  initToken();
  try {
    const me = await api<{ readOnly: boolean; registry: string | null }>("GET", "/_dashboard");
    connectFeed();
    render(<App readOnly={me.readOnly} registry={me.registry} />, root);
  } catch (e) {
    render(<Denied message={e instanceof Error ? e.message : String(e)} />, root);
  }
}

void boot();
