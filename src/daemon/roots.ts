/**
 * The data root's own mode, set at every start (the CVE-2021-41091 class: a
 * setuid file a container makes in its writable layer or a volume must be out of
 * reach of host users). As dockerd: 0710, owned by root, group the remapped
 * root's with --userns-remap (it must pass to reach containers' root
 * filesystems), root's otherwise. Each store tightens its own directories
 * (ensureDir); this covers what no running store owns: with --userns-remap the
 * remapped root may pass the data root, so the non-remapped store's directories
 * (and other mappings') lose every permission for others.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { ensureDir } from "../util/fsutil.js";

export async function tightenDataRoot(dataRoot: string, storeRoot: string, gid: number): Promise<void> {
  await ensureDir(dataRoot, 0o710, gid);
  if (storeRoot === dataRoot) return;
  for (const e of await fs.readdir(dataRoot, { withFileTypes: true })) {
    const p = path.join(dataRoot, e.name);
    if (!e.isDirectory() || p === storeRoot) continue;
    const st = await fs.lstat(p);
    if ((st.mode & 0o007) !== 0) await fs.chmod(p, st.mode & 0o7770);
  }
}
