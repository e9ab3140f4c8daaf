/**
 * The containers' storage seam (plugs.ts ContainerStorage): at create the mount points are
 * resolved and their volumes made (register.ts); at start they become OCI mounts (new
 * volumes populated, targets made safely inside the root); `docker cp` sees them through a
 * view; at removal anonymous volumes go with `rm -v` and `--rm`. Volumes with mount options
 * (tmpfs, bind devices) are mounted while a running container uses them and unmounted when
 * the last one dies.
 */
import type { OciMount } from "../../runtime/index.js";
import { messageOf } from "../../util/errors.js";
import { DEFAULT_DRIVER, DEFAULT_PROPAGATION, type MountPoint, type ViewMount, byDepth, convertTmpfsOptions } from "../../volume/index.js";
import type { ContainerView } from "../cpview.js";
import { mergeTmpfsOptions } from "../hostconfig.js";
import type { ContainerStorage } from "../plugs.js";
import type { ContainerRecord } from "../types.js";
import { bindMount, ensureBindSource, ensureTarget, mountedVolume } from "./ocimounts.js";
import { registerMountPoints } from "./register.js";
import type { SubpathStages } from "./stage.js";
import type { VolumeState } from "./state.js";

export class VolumeAttachment implements ContainerStorage {
  constructor(private readonly s: VolumeState, private readonly stages: SubpathStages) {
    // A container's process ended: release the mounts of volumes nobody running uses any more.
    s.o.events.subscribe((e) => {
      if (e.Type !== "container") return;
      // Running (or ended): the container's own state tells from now on.
      if (e.Action === "start" || e.Action === "die") s.starting.delete(e.Actor.ID);
      if (e.Action !== "die") return;
      const rec = s.o.containers.find(e.Actor.ID);
      for (const m of rec?.MountPoints ?? []) {
        if (m.Type === "volume" && m.Name !== "") s.o.events.emit("volume", "unmount", m.Name, { container: e.Actor.ID, driver: m.Driver || DEFAULT_DRIVER });
      }
      void this.settle();
    });
  }

  /** Settle the volume mounts; a failure is logged (the caller goes on). */
  private settle(): Promise<void> {
    return this.s.settle().catch((err: unknown) => this.s.o.log.warn(`releasing volume mounts: ${messageOf(err)}`));
  }

  onCreate(rec: ContainerRecord): Promise<void> {
    return registerMountPoints(this.s, rec);
  }

  /** At start: OCI mounts for the container's mount points, parents before children. */
  async mounts(rec: ContainerRecord, rootfs: string): Promise<OciMount[]> {
    const points = [...(rec.MountPoints ?? [])].sort(byDepth((m: MountPoint) => m.Destination));
    if (points.length === 0) return [];
    this.s.starting.delete(rec.Id);
    await this.s.settle(); // a tmpfs volume left by containers that ended starts afresh
    try {
      await this.s.lock.run("mounts", async () => {
        this.s.starting.set(rec.Id, Date.now());
        for (const mp of points) if (mp.Type === "volume") await this.s.driver.mount(mp.Name);
      });
      return await this.ociMounts(rec, points, rootfs);
    } catch (e) {
      // The start fails: what was mounted for it alone is released now.
      this.s.starting.delete(rec.Id);
      await this.settle();
      throw e;
    }
  }

  private async ociMounts(rec: ContainerRecord, points: MountPoint[], rootfs: string): Promise<OciMount[]> {
    const out: OciMount[] = [];
    const owner = this.s.o.rootOwner;
    await this.afterCreate(rec); // what an earlier, failed start of this container staged
    for (const [i, mp] of points.entries()) {
      switch (mp.Type) {
        case "volume": {
          const data = await mountedVolume(this.s, rec, mp, rootfs);
          const sub = mp.Spec.VolumeOptions?.Subpath ?? "";
          const source = sub === "" ? data : await this.stages.stage(rec.Id, i, data, sub);
          await ensureTarget(rootfs, mp.Destination, source, owner);
          out.push(bindMount(mp, source));
          break;
        }
        case "bind": {
          await ensureBindSource(mp, owner);
          await ensureTarget(rootfs, mp.Destination, mp.Source, owner);
          out.push(bindMount(mp, mp.Source));
          break;
        }
        case "tmpfs": {
          const data = convertTmpfsOptions(mp.Spec.TmpfsOptions, mp.Spec.ReadOnly ?? false);
          const options = mergeTmpfsOptions(["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION, ...(data ? data.split(",") : [])]);
          // The runtime creates a tmpfs target itself: a pre-existing directory would lend the tmpfs its mode.
          out.push({ destination: mp.Destination, type: "tmpfs", source: "tmpfs", options });
          break;
        }
      }
    }
    // The container's /etc files are mounted before these: where a mount covers /etc, mount them again on top
    // (Docker sorts all mounts parents-first, so they stay visible).
    const etc: [string, string][] = [["/etc/resolv.conf", rec.ResolvConfPath], ["/etc/hostname", rec.HostnamePath], ["/etc/hosts", rec.HostsPath]];
    for (const [dest, src] of etc) {
      if (points.some((m) => m.Destination === dest)) continue;
      const cover = points.filter((m) => dest.startsWith(m.Destination === "/" ? "/" : `${m.Destination}/`));
      if (cover.length === 0 || cover.some((m) => !m.RW)) continue;
      out.push({ destination: dest, type: "bind", source: src, options: ["rbind", "rprivate"] });
    }
    return out;
  }

  /** The runtime has made the container's mounts (or its start failed): drop the subpath stages made for it. */
  afterCreate(rec: ContainerRecord): Promise<void> {
    return this.stages.release(rec.Id);
  }

  /**
   * The container's volumes and bind mounts as `docker cp` sees them (Docker's setupMounts
   * for openContainerFS): parents before children; tmpfs mounts are left out, as Docker
   * leaves them out (cp sees what is under them). Volumes that need mounting (tmpfs, bind
   * devices) are mounted and kept until release; a volume never used yet gets the image's
   * content first (Docker copies it at create, Berth at first use); a missing `-v` bind
   * source is created. Volume mount/unmount events as Docker's. rootfs must be mounted.
   */
  async viewMounts(rec: ContainerRecord, rootfs: string): Promise<ContainerView> {
    const points = (rec.MountPoints ?? []).filter((m) => m.Type !== "tmpfs").sort(byDepth((m: MountPoint) => m.Destination));
    if (points.length === 0) return { mounts: [], release: async () => undefined };
    const viewing = this.s.viewing;
    viewing.set(rec.Id, (viewing.get(rec.Id) ?? 0) + 1);
    const announced: MountPoint[] = [];
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      const n = (viewing.get(rec.Id) ?? 1) - 1;
      if (n > 0) viewing.set(rec.Id, n);
      else viewing.delete(rec.Id);
      for (const mp of announced) this.s.o.events.emit("volume", "unmount", mp.Name, { container: rec.Id, driver: mp.Driver || DEFAULT_DRIVER });
      await this.settle();
    };
    try {
      await this.s.lock.run("mounts", async () => {
        for (const mp of points) if (mp.Type === "volume") await this.s.driver.mount(mp.Name);
      });
      const mounts: ViewMount[] = [];
      for (const mp of points) {
        let source: string;
        let subpath: string | undefined;
        if (mp.Type === "volume") {
          source = await mountedVolume(this.s, rec, mp, rootfs);
          announced.push(mp);
          // Resolved and mounted from a descriptor by the view's helper (volume/view.ts).
          const sub = mp.Spec.VolumeOptions?.Subpath ?? "";
          if (sub !== "") subpath = sub;
        } else {
          await ensureBindSource(mp, this.s.o.rootOwner);
          source = mp.Source;
        }
        const bo = mp.Spec.BindOptions;
        mounts.push({
          destination: mp.Destination,
          source,
          ...(subpath !== undefined ? { subpath } : {}),
          rw: mp.RW,
          recursive: !bo?.NonRecursive,
          ...(bo?.ReadOnlyNonRecursive ? { readOnlyNonRecursive: true } : {}),
        });
      }
      const owner = this.s.o.rootOwner;
      return { mounts, ...(owner ? { owner } : {}), release };
    } catch (e) {
      await release();
      throw e;
    }
  }

  async onRemove(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    this.s.creating.delete(rec.Id);
    this.s.starting.delete(rec.Id);
    // `rm -v`, and every auto-removal (--rm), take the anonymous volumes along unless another container uses them.
    if (removeVolumes || rec.HostConfig.AutoRemove) {
      for (const mp of rec.MountPoints ?? []) {
        if (mp.Type !== "volume" || mp.Name === "" || (mp.Spec.Source ?? "") !== "") continue;
        await this.s.lock.run("refs", async () => {
          const v = this.s.driver.get(mp.Name);
          if (!v || this.s.refs(mp.Name, rec.Id).length > 0) return;
          try {
            await this.s.destroy(v);
          } catch (e) {
            this.s.o.log.warn(`removing volume ${mp.Name} of container ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
          }
        });
      }
    }
    await this.s.settle();
  }

  /** Docker's `Mounts` (inspect and ps). */
  inspectMounts(rec: ContainerRecord): unknown[] {
    return [...(rec.MountPoints ?? [])]
      .sort((a, b) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0))
      .map((m) => ({
        Type: m.Type,
        ...(m.Name !== "" ? { Name: m.Name } : {}),
        Source: m.Type === "volume" ? this.s.driver.dataPath(m.Name) : m.Source,
        Destination: m.Destination,
        ...(m.Driver !== "" ? { Driver: m.Driver } : {}),
        Mode: m.Mode,
        RW: m.RW,
        Propagation: m.Propagation,
      }));
  }
}
