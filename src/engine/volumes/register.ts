/**
 * Docker's registerMountPoints at container create: --volumes-from, -v (Binds), --mount
 * (Mounts) and Config.Volumes (the image's VOLUMEs) become the record's MountPoints, and
 * their named and anonymous volumes are created (or found) and referenced.
 */
import path from "node:path";
import { invalid, notFound } from "../../util/errors.js";
import {
  ANONYMOUS_LABEL,
  DEFAULT_DRIVER,
  type MountPoint,
  VOLUME_NAME_RE,
  parseMountRaw,
  parseMountSpec,
  parseVolumesFrom,
  readWrite,
  volumeNameError,
} from "../../volume/index.js";
import type { ContainerRecord } from "../types.js";
import { type VolumeState, randomName } from "./state.js";

function cleanPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, "$1");
}

/**
 * dockerd's validateBindDaemonRoot: a bind whose source holds the data root (or lies in it)
 * must not be private, or the container would keep private copies of the engine's own
 * mounts (other containers' root filesystems) and make them impossible to unmount.
 * Without a propagation mode it becomes rslave; rslave and rshared are accepted.
 */
function checkDaemonRootBind(volumesRoot: string, mp: MountPoint, asked: string): void {
  if (mp.Type !== "bind") return;
  const root = path.dirname(volumesRoot);
  const src = mp.Source;
  const within = (inner: string, outer: string): boolean => outer === "/" || inner === outer || inner.startsWith(`${outer}/`);
  if (!within(src, root) && !within(root, src)) return;
  if (asked === "") mp.Propagation = "rslave";
  else if (asked !== "rslave" && asked !== "rshared") {
    throw invalid(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: ${JSON.stringify(root)}, bind mount source: ${JSON.stringify(src)}, propagation: ${JSON.stringify(asked)}`);
  }
}

/** A volume of -v or --mount (--mount's may be anonymous): Docker's name check, the local driver, mode "z" by default. */
function checkVolume(s: VolumeState, mp: MountPoint, anonymousOk: boolean): void {
  if (mp.Type !== "volume") return;
  if ((mp.Name !== "" || !anonymousOk) && !VOLUME_NAME_RE.test(mp.Name)) throw invalid(`create ${mp.Name}: ${volumeNameError(mp.Name)}`);
  s.checkDriver(mp.Name, mp.Driver);
  mp.Driver = DEFAULT_DRIVER;
  if (mp.Mode === "") mp.Mode = "z";
}

/** Resolve the container's mount points (Docker's registerMountPoints + image VOLUMEs) and create their volumes. */
export async function registerMountPoints(s: VolumeState, rec: ContainerRecord): Promise<void> {
  const hc = rec.HostConfig;
  const points = new Map<string, MountPoint>();
  const inherited = new Set<string>(); // destinations taken from --volumes-from
  const tmpfs = hc.Tmpfs ?? {};
  const volumeDriver = hc.VolumeDriver ?? "";

  // 1. --volumes-from: the other container's mount points, read-only if asked.
  for (const spec of hc.VolumesFrom ?? []) {
    const { id, mode } = parseVolumesFrom(spec);
    const src = s.o.containers.find(id);
    if (!src) throw invalid(`No such container: ${id}`);
    for (const m of src.MountPoints ?? []) {
      points.set(m.Destination, { ...m, Mode: "", RW: m.RW && readWrite(mode), CopyData: false, Spec: { ...m.Spec } });
      inherited.add(m.Destination);
    }
  }

  // 2. -v (Binds): host paths and named volumes; they replace inherited mount points.
  const taken = new Set<string>();
  for (const raw of hc.Binds ?? []) {
    const mp = parseMountRaw(raw, volumeDriver);
    if (taken.has(mp.Destination) || mp.Destination in tmpfs) throw invalid(`Duplicate mount point: ${mp.Destination}`);
    checkVolume(s, mp, false);
    checkDaemonRootBind(s.o.root, mp, mp.Spec.BindOptions?.Propagation ?? "");
    taken.add(mp.Destination);
    inherited.delete(mp.Destination);
    points.set(mp.Destination, mp);
  }

  // 3. --mount (Mounts).
  for (const cfg of hc.Mounts ?? []) {
    const mp = parseMountSpec(cfg);
    if (taken.has(mp.Destination)) throw invalid(`Duplicate mount point: ${cfg.Target ?? ""}`);
    checkVolume(s, mp, true);
    if (mp.Type === "bind" && !cfg.BindOptions?.CreateMountpoint) mp.SkipMountpointCreation = true;
    checkDaemonRootBind(s.o.root, mp, cfg.BindOptions?.Propagation ?? "");
    taken.add(mp.Destination);
    inherited.delete(mp.Destination);
    points.set(mp.Destination, mp);
  }

  // 4. Config.Volumes (the image's VOLUMEs and `-v /path`): anonymous volumes where nothing else is mounted.
  for (const spec of Object.keys(rec.Config.Volumes ?? {})) {
    if (!spec.includes(":")) parseMountRaw(spec); // Docker's errors for relative paths and "/"
    else if (!spec.startsWith("/")) throw invalid(`invalid mount path: '${spec}' mount path must be absolute`);
    const dest = cleanPath(spec);
    if (points.has(dest) || dest in tmpfs || spec in tmpfs) continue;
    s.checkDriver("", volumeDriver);
    points.set(dest, { Type: "volume", Name: "", Source: "", Destination: dest, Driver: DEFAULT_DRIVER, Mode: "", RW: true, Propagation: "", CopyData: true, Spec: {} });
  }

  // Everything is valid: create (or find) the volumes and record the references.
  await s.lock.run("refs", async () => {
    for (const mp of points.values()) {
      if (mp.Type !== "volume") continue;
      if (inherited.has(mp.Destination)) {
        if (!s.driver.get(mp.Name)) throw notFound(`get ${mp.Name}: no such volume`);
        continue;
      }
      const anonymous = mp.Name === "";
      const name = anonymous ? randomName() : mp.Name;
      const vo = mp.Spec.VolumeOptions;
      const labels = anonymous ? { ...(vo?.Labels ?? {}), [ANONYMOUS_LABEL]: "" } : (vo?.Labels ?? null);
      const v = await s.createVolume(name, mp.Driver, vo?.DriverConfig?.Options ?? null, labels);
      mp.Name = v.Name;
      mp.Driver = v.Driver;
      mp.Source = s.driver.dataPath(v.Name);
    }
    rec.MountPoints = [...points.values()];
    s.creating.set(rec.Id, { rec, at: Date.now() });
  });
}
