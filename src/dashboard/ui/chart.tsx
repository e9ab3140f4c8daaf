/** A uPlot time-series chart of one container's CPU and memory, redrawn as samples arrive. */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { bytes } from "./api.js";
import type { Series } from "./store.js";

export function StatsChart({ series, version }: { series: Series | undefined; version: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    if (!box.current) return;
    const css = getComputedStyle(box.current);
    const axis = { stroke: css.color, grid: { stroke: css.getPropertyValue("--border") } };
    plot.current = new uPlot(
      {
        width: Math.min(900, box.current.clientWidth || 600),
        height: 200,
        series: [{}, { label: "CPU %", stroke: "#2a7de1", scale: "%" }, { label: "Memory", stroke: "#d9534f", scale: "b", value: (_u, v) => (v == null ? "—" : bytes(v)) }],
        axes: [axis, { ...axis, scale: "%" }, { ...axis, scale: "b", side: 1, values: (_u, vals) => vals.map((v) => bytes(v)) }],
        scales: { "%": { range: (_u, _min, max) => [0, Math.max(5, max)] } },
      },
      [[], [], []],
      box.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    if (series) plot.current?.setData([series.t, series.cpu, series.mem]);
  }, [version, series]);
  return <div class="chart" ref={box} aria-label="CPU and memory over time" role="img" />;
}
