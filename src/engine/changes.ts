/** The `--change` instructions of docker import and docker commit, as dockerd reads them. */
import { invalid } from "../util/errors.js";
import type { ImageRunConfig } from "../image/index.js";

/** `--change` instructions of docker import/commit (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL). */
export function parseChanges(changes: string[]): ImageRunConfig {
  const cfg: ImageRunConfig = {};
  for (const raw of changes) {
    const line = raw.trim();
    if (line === "") continue;
    const m = line.match(/^(\w+)\s+([\s\S]*)$/);
    if (!m) throw invalid(`invalid change: ${raw}`);
    const instr = (m[1] ?? "").toUpperCase();
    const arg = (m[2] ?? "").trim();
    const list = (): string[] => {
      if (arg.startsWith("[")) {
        try {
          const v = JSON.parse(arg) as unknown;
          if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
        } catch {
          // fall through to shell form
        }
      }
      return ["/bin/sh", "-c", arg];
    };
    const pairs = (): [string, string][] => {
      if (!arg.includes("=")) {
        const sp = arg.indexOf(" ");
        return [[arg.slice(0, sp < 0 ? arg.length : sp), sp < 0 ? "" : arg.slice(sp + 1).trim()]];
      }
      const out: [string, string][] = [];
      for (const tok of arg.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? []) {
        const i = tok.indexOf("=");
        if (i < 0) throw invalid(`invalid change: ${raw}`);
        out.push([tok.slice(0, i), tok.slice(i + 1).replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1")]);
      }
      return out;
    };
    switch (instr) {
      case "CMD":
        cfg.Cmd = list();
        break;
      case "ENTRYPOINT":
        cfg.Entrypoint = list();
        break;
      case "ENV":
        cfg.Env = [...(cfg.Env ?? []), ...pairs().map(([k, v]) => `${k}=${v}`)];
        break;
      case "LABEL":
        cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs()) };
        break;
      case "EXPOSE":
        cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of arg.split(/\s+/)) cfg.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
        break;
      case "USER":
        cfg.User = arg;
        break;
      case "WORKDIR":
        cfg.WorkingDir = arg;
        break;
      case "VOLUME":
        cfg.Volumes = { ...(cfg.Volumes ?? {}) };
        for (const v of arg.startsWith("[") ? (JSON.parse(arg) as string[]) : arg.split(/\s+/)) cfg.Volumes[v] = {};
        break;
      case "STOPSIGNAL":
        cfg.StopSignal = arg;
        break;
      default:
        throw invalid(`${instr.toLowerCase()} is not a valid change command`);
    }
  }
  return cfg;
}
