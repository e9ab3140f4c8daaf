/**
 * Host-wide address leases. Several berthd instances (each with its own
 * data-root, e.g. tests) can share a bridge — the default `berth0` — so an
 * address is claimed by creating `<root>/<bridge>/<ip>` with O_EXCL, which is
 * atomic across processes. A lease names its owner (the daemon's exec-root and
 * the container); leases of daemons whose exec-root no longer exists are stale
 * and collected.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { errnoCode } from "../util/errors.js";
import { mkdirp } from "../util/fsutil.js";

export const DEFAULT_LEASE_ROOT = "/run/berth-net/leases";

export interface LeaseOwner {
  execRoot: string;
  container: string;
}

export class HostLeases {
  constructor(
    readonly root: string,
    private readonly owner: string,
  ) {}

  private dir(bridge: string): string {
    return path.join(this.root, bridge);
  }

  /** Addresses currently leased on a bridge (by anyone). */
  async taken(bridge: string): Promise<Set<string>> {
    try {
      return new Set((await fs.readdir(this.dir(bridge))).filter((n) => !n.startsWith(".")));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return new Set();
      throw e;
    }
  }

  /** Claim one address; false when someone holds it. */
  async claim(bridge: string, ip: string, container: string): Promise<boolean> {
    const dir = this.dir(bridge);
    await mkdirp(dir, 0o755);
    try {
      await fs.writeFile(path.join(dir, ip), `${this.owner}\n${container}\n`, { flag: "wx", mode: 0o644 });
      return true;
    } catch (e) {
      if (errnoCode(e) === "EEXIST") return false;
      throw e;
    }
  }

  /** Release an address if this daemon holds it for that container. */
  async release(bridge: string, ip: string, container: string): Promise<void> {
    const file = path.join(this.dir(bridge), ip);
    const o = await readOwner(file);
    if (o && o.execRoot === this.owner && o.container === container) await fs.rm(file, { force: true });
  }

  /** Forget a bridge that was deleted (its lease directory). */
  async dropBridge(bridge: string): Promise<void> {
    await fs.rm(this.dir(bridge), { recursive: true, force: true });
  }

  /**
   * Drop leases of daemons whose exec-root is gone, and this daemon's leases
   * that `keep` does not name (left by a crash). `keep` holds "bridge/ip".
   */
  async collect(keep: Set<string>): Promise<number> {
    let removed = 0;
    let bridges: string[];
    try {
      bridges = await fs.readdir(this.root);
    } catch {
      return 0;
    }
    const alive = new Map<string, boolean>();
    for (const b of bridges) {
      const names = await fs.readdir(this.dir(b)).catch(() => [] as string[]);
      for (const ip of names) {
        const file = path.join(this.dir(b), ip);
        const o = await readOwner(file);
        if (!o) continue;
        let stale: boolean;
        if (o.execRoot === this.owner) stale = !keep.has(`${b}/${ip}`);
        else {
          let a = alive.get(o.execRoot);
          if (a === undefined) {
            a = await fs.stat(o.execRoot).then(() => true, () => false);
            alive.set(o.execRoot, a);
          }
          stale = !a;
        }
        if (stale) {
          await fs.rm(file, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

async function readOwner(file: string): Promise<LeaseOwner | undefined> {
  try {
    const [execRoot, container] = (await fs.readFile(file, "utf8")).split("\n");
    return execRoot ? { execRoot, container: container ?? "" } : undefined;
  } catch {
    return undefined;
  }
}
