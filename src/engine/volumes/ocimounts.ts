/**
 * The host side of a container's mount points at start and for `docker cp`: bind sources
 * created (or refused) as Docker does, mount targets made safely inside the root, a new
 * volume populated with the image's content on first use (Docker's copy-up).
 */
import { existsSync, promises as fs } from "node:fs";
import { ScopedRoot, closeQuietly, openDirAt, reopenDir } from "../../image/index.js";
import { EngineError, invalid, messageOf, notFound } from "../../util/errors.js";
import { mkdirp } from "../../util/fsutil.js";
import type { OciMount } from "../../runtime/index.js";
import { DEFAULT_DRIVER, DEFAULT_PROPAGATION, type MountPoint, copyTree, createFileInRoot, isEmptyDir, mkdirInRoot } from "../../volume/index.js";
import type { ContainerRecord } from "../types.js";
import type { VolumeState } from "./state.js";

type Owner = { uid: number; gid: number } | undefined;

export function bindMount(mp: MountPoint, source: string): OciMount {
  const options = [mp.Spec.BindOptions?.NonRecursive ? "bind" : "rbind"];
  if (!mp.RW) options.push("ro");
  options.push(mp.Propagation || DEFAULT_PROPAGATION);
  return { destination: mp.Destination, type: "bind", source, options };
}

/**
 * A bind's host path: `-v` creates a missing one (as a directory, given to the containers'
 * root under --userns-remap, dockerd's rule), `--mount` refuses it (Docker's messages).
 */
export async function ensureBindSource(mp: MountPoint, owner: Owner): Promise<void> {
  if (existsSync(mp.Source)) return;
  if (mp.SkipMountpointCreation) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${mp.Source}`);
  try {
    await mkdirp(mp.Source, 0o755);
    if (owner) await fs.chown(mp.Source, owner.uid, owner.gid);
  } catch (e) {
    throw new EngineError("internal", `error while creating mount source path '${mp.Source}': ${messageOf(e)}`);
  }
}

/** Create the mount target inside the root: a directory, or an empty file for a file source. */
export async function ensureTarget(rootfs: string, dest: string, source: string, owner: Owner): Promise<void> {
  const st = await fs.stat(source).catch(() => undefined); // no source yet: a directory target
  if (st && !st.isDirectory()) await createFileInRoot(rootfs, dest, 0o755, owner);
  else await mkdirInRoot(rootfs, dest, 0o755, owner);
}

/** The host path of a volume's data (its copy-up done), announced with a volume mount event. */
export async function mountedVolume(s: VolumeState, rec: ContainerRecord, mp: MountPoint, rootfs: string): Promise<string> {
  if (!s.driver.get(mp.Name)) throw notFound(`error while mounting volume '${mp.Source}': get ${mp.Name}: no such volume`);
  const data = s.driver.dataPath(mp.Name);
  if (mp.CopyData) {
    await copyUp(s, mp.Name, rootfs, mp.Destination, data);
    mp.CopyData = false; // saved with the record: the copy happens on first use only
  }
  s.o.events.emit("volume", "mount", mp.Name, {
    container: rec.Id,
    destination: mp.Destination,
    driver: mp.Driver || DEFAULT_DRIVER,
    propagation: mp.Propagation,
    "read/write": String(mp.RW),
  });
  return data;
}

/** Docker's populate: a new (empty) volume mounted over image content gets a copy of it. */
async function copyUp(s: VolumeState, name: string, rootfs: string, dest: string, data: string): Promise<void> {
  await s.lock.run(`copy:${name}`, async () => {
    // The image's directory, resolved in the root and held open; the copy works on descriptors only
    // (a running container sharing the volume may change it meanwhile: see volume/copy.ts).
    const root = ScopedRoot.open(rootfs);
    let srcFd: number | undefined;
    try {
      const r = root.resolve(dest, true);
      try {
        if (r.stat?.isDirectory()) srcFd = r.name === "" ? reopenDir(r.dirFd) : openDirAt(r.dirFd, r.name);
      } finally {
        r.close();
      }
    } catch {
      return; // nothing there to copy
    } finally {
      root.close();
    }
    if (srcFd === undefined) return;
    try {
      if (!(await isEmptyDir(data))) return;
      const st = await copyTree(srcFd, data);
      s.o.log.debug(`copied ${st.files} entries (${st.bytes} bytes) of ${dest} into volume ${name}`);
    } catch (e) {
      throw new EngineError("internal", `failed to populate volume ${name} with ${dest}: ${messageOf(e)}`);
    } finally {
      closeQuietly(srcFd);
    }
  });
}
