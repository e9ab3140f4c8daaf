/** Engine events of the last hour (at most 1,000), then live as they arrive, newest first, filtered by type, action and name. */
import { useState } from "preact/hooks";
import { state, useStore } from "./store.js";

export function EventsView() {
  useStore();
  const [type, setType] = useState("");
  const [text, setText] = useState("");
  const q = text.toLowerCase();
  const types = [...new Set(state.events.map((e) => e.Type))].sort();
  const shown = state.events.filter((e) => (!type || e.Type === type) && (!q || `${e.Action} ${e.Actor.Attributes?.["name"] ?? ""} ${e.Actor.ID}`.toLowerCase().includes(q)));
  return (
    <section aria-labelledby="h-events">
      <div class="toolbar">
        <h1 id="h-events">Events</h1>
        <label>
          Type{" "}
          <select value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {types.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <input type="search" placeholder="Filter by action or name" aria-label="Filter events" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <span class="muted">{shown.length} events</span>
      </div>
      <ol class="timeline">
        {shown.slice(0, 500).map((e, i) => (
          <li key={`${e.timeNano ?? e.time}-${i}`} class={`ev ${e.Type}`}>
            <time dateTime={new Date(e.time * 1000).toISOString()}>{new Date((e.timeNano ? e.timeNano / 1e6 : e.time * 1000)).toLocaleTimeString()}</time>
            <span class="badge">{e.Type}</span>
            <strong>{e.Action}</strong>
            <span>{e.Actor.Attributes?.["name"] ?? e.Actor.ID.slice(0, 12)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
