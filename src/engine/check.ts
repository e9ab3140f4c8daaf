/**
 * `berth system check`: the engine's fsck. Verifies the image store, container
 * records against their snapshots, mounts, runtime state and cgroups, so a test
 * (or an operator after a crash) can tell whether anything is inconsistent.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { type CheckProblem, type ImageStore, checkImageStore } from "../image/index.js";
import type { Runtime } from "../runtime/index.js";
import type { ContainerLookup } from "./containers/index.js";

export type { CheckProblem };

export async function systemCheck(o: {
  store: ImageStore;
  containers: Pick<ContainerLookup, "all" | "busy">;
  runtimes: Map<string, Runtime>;
  dataRoot: string;
  verifyBlobs: boolean;
}): Promise<{ problems: CheckProblem[]; checked: Record<string, number> }> {
  const problems = await checkImageStore(o.store, { verifyBlobs: o.verifyBlobs });
  const recs = o.containers.all();
  const ids = new Set(recs.map((r) => r.Id));
  const snapshots = new Set((await o.store.snapshots.snapshots()).map((s) => s.key));
  for (const r of recs) {
    if (!o.store.index.get(r.Image as never)) problems.push({ area: "containers", id: r.Id, problem: `image ${r.Image} is missing` });
    if (!snapshots.has(r.Id)) problems.push({ area: "containers", id: r.Id, problem: "writable layer (snapshot) is missing" });
    if (r.State.Running) {
      const rt = o.runtimes.get(r.HostConfig.Runtime ?? "runc");
      if (rt && !(await rt.container(r.Id).isAlive())) problems.push({ area: "containers", id: r.Id, problem: "recorded as running but its monitor is gone" });
    }
  }
  // Build steps own their snapshots (build-*) while they run; leftovers are removed when the daemon starts.
  const building = (key: string) => key.startsWith("build-");
  for (const key of snapshots) if (!ids.has(key) && !building(key)) problems.push({ area: "layers", id: key, problem: "snapshot without a container" });

  // Mounts under the data-root belong to running containers only.
  // A container in the middle of an operation (start, stop, rm) is in flux, not inconsistent.
  const running = new Set(recs.filter((r) => r.State.Running || o.containers.busy(r.Id)).map((r) => r.Id));
  const mountinfo = await fs.readFile("/proc/self/mountinfo", "utf8");
  let mounts = 0;
  for (const line of mountinfo.split("\n")) {
    const mp = line.split(" ")[4];
    if (!mp || !mp.startsWith(o.store.snapshots.snapshotsDir + path.sep)) continue;
    mounts++;
    const key = path.relative(o.store.snapshots.snapshotsDir, mp).split(path.sep)[0] ?? "";
    if (!running.has(key) && !building(key)) problems.push({ area: "mounts", id: mp, problem: "mounted but the container is not running" });
  }

  // The OCI runtime knows only running containers of ours.
  let runtimeStates = 0;
  for (const [name, rt] of o.runtimes) {
    // A runtime that cannot list (never used, no state root yet) holds nothing of ours.
    const list = await rt.list().catch(() => []);
    for (const s of list) {
      runtimeStates++;
      if (!running.has(s.id) && !building(s.id)) problems.push({ area: "runtime", id: s.id, problem: `${name} has state (${s.status}) for a container that is not running` });
      const rec = recs.find((r) => r.Id === s.id);
      if (s.status === "paused" && rec && !rec.State.Paused && !o.containers.busy(rec.Id)) problems.push({ area: "runtime", id: s.id, problem: "frozen, but not paused by the user" });
    }
  }

  // cgroups: /sys/fs/cgroup/<controller>/berth/<id> (v1) or /sys/fs/cgroup/berth/<id> (v2); the other layout's folders are absent.
  let cgroups = 0;
  const roots = ["/sys/fs/cgroup/berth", ...(await fs.readdir("/sys/fs/cgroup").catch(() => [] as string[])).map((c) => `/sys/fs/cgroup/${c}/berth`)];
  for (const root of roots) {
    for (const id of await fs.readdir(root).catch(() => [] as string[])) {
      const st = await fs.stat(path.join(root, id)).catch(() => undefined);
      if (!st?.isDirectory() || !/^[0-9a-f]{64}$/.test(id)) continue;
      cgroups++;
      // Another daemon (another data-root) may own it: only flag ids that are ours.
      if (ids.has(id) && !running.has(id)) problems.push({ area: "cgroups", id: path.join(root, id), problem: "cgroup left for a stopped container" });
    }
  }
  return {
    problems,
    checked: { images: o.store.index.list().length, containers: recs.length, snapshots: snapshots.size, mounts, runtimeStates, cgroups },
  };
}
