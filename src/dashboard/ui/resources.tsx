/** Networks and volumes with the containers attached to them, and disk usage (system df) as a chart. */
import { api, bytes } from "./api.js";
import { containerName, state, useStore } from "./store.js";
import type { DfImage } from "./images.js";
import { ErrorLine, useAsync } from "./widgets.js";

interface Network {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] };
}

export function NetworksView() {
  useStore();
  const nets = useAsync(() => api<Network[]>("GET", "/networks"), [state.containers.length]);
  return (
    <section aria-labelledby="h-networks">
      <h1 id="h-networks">Networks</h1>
      <ErrorLine error={nets.error} />
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Driver</th>
            <th>Subnet</th>
            <th>Containers</th>
          </tr>
        </thead>
        <tbody>
          {(nets.value ?? []).map((n) => (
            <tr key={n.Id}>
              <td>{n.Name}</td>
              <td>{n.Driver}</td>
              <td>{(n.IPAM?.Config ?? []).map((c) => c.Subnet).join(", ")}</td>
              <td>
                {state.containers
                  .filter((c) => Object.keys(c.NetworkSettings?.Networks ?? {}).includes(n.Name))
                  .map((c) => (
                    <a key={c.Id} class="chip" href={`#/c/${c.Id}`}>
                      {containerName(c)}
                    </a>
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt?: string;
}

export function VolumesView() {
  useStore();
  const vols = useAsync(() => api<{ Volumes: Volume[] | null }>("GET", "/volumes"), [state.containers.length]);
  return (
    <section aria-labelledby="h-volumes">
      <h1 id="h-volumes">Volumes</h1>
      <ErrorLine error={vols.error} />
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Driver</th>
            <th>Mountpoint</th>
            <th>Containers</th>
          </tr>
        </thead>
        <tbody>
          {(vols.value?.Volumes ?? []).map((v) => (
            <tr key={v.Name}>
              <td class="mono">{v.Name}</td>
              <td>{v.Driver}</td>
              <td class="mono">{v.Mountpoint}</td>
              <td>
                {state.containers
                  .filter((c) => c.Mounts.some((m) => m.Type === "volume" && m.Name === v.Name))
                  .map((c) => (
                    <a key={c.Id} class="chip" href={`#/c/${c.Id}`}>
                      {containerName(c)}
                    </a>
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface Df {
  LayersSize?: number;
  Images: DfImage[] | null;
  Containers: { SizeRw?: number; State: string }[] | null;
  Volumes: { UsageData?: { Size: number; RefCount: number } }[] | null;
  BuildCache: { Size: number; InUse: boolean }[] | null;
}

export function DiskView() {
  const df = useAsync(() => api<Df>("GET", "/system/df"), []);
  const d = df.value;
  const rows = d
    ? [
        { name: "Images", total: d.LayersSize ?? 0, reclaimable: (d.Images ?? []).filter((i) => i.Containers === 0).reduce((s, i) => s + i.Size - Math.max(0, i.SharedSize), 0) },
        { name: "Containers", total: (d.Containers ?? []).reduce((s, c) => s + (c.SizeRw ?? 0), 0), reclaimable: (d.Containers ?? []).filter((c) => c.State !== "running").reduce((s, c) => s + (c.SizeRw ?? 0), 0) },
        { name: "Local volumes", total: (d.Volumes ?? []).reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0), reclaimable: (d.Volumes ?? []).filter((v) => v.UsageData?.RefCount === 0).reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0) },
        { name: "Build cache", total: (d.BuildCache ?? []).reduce((s, b) => s + b.Size, 0), reclaimable: (d.BuildCache ?? []).filter((b) => !b.InUse).reduce((s, b) => s + b.Size, 0) },
      ]
    : [];
  const max = Math.max(1, ...rows.map((r) => r.total));
  return (
    <section aria-labelledby="h-disk">
      <div class="toolbar">
        <h1 id="h-disk">Disk usage</h1>
        <span class="legend">
          <i class="used" /> in use <i class="reclaimable" /> reclaimable
        </span>
        <button type="button" onClick={df.reload}>
          Refresh
        </button>
      </div>
      <ErrorLine error={df.error} />
      <div class="dfchart" role="table" aria-label="Disk usage">
        {rows.map((r) => (
          <div class="dfrow" role="row" key={r.name}>
            <span role="cell">{r.name}</span>
            <div class="bar big" role="cell" aria-label={`${r.name}: ${bytes(r.total)}, ${bytes(r.reclaimable)} reclaimable`}>
              <span class="used" style={{ width: `${((r.total - r.reclaimable) / max) * 100}%` }} />
              <span class="reclaimable" style={{ width: `${(r.reclaimable / max) * 100}%` }} />
            </div>
            <span role="cell" class="num">
              {bytes(r.total)} ({bytes(r.reclaimable)} reclaimable)
            </span>
          </div>
        ))}
      </div>
    </section>
  );
}
