/**
 * User-namespace id mappings (`berthd --userns-remap`): container uid/gid ↔ host
 * uid/gid through the subordinate ranges of a host user (/etc/subuid, /etc/subgid).
 * With a mapping, layers are unpacked with host ids (container id + range start),
 * archives written from a container carry container ids again, and runc gets the
 * same ranges as the user namespace's uid_map/gid_map.
 */
import { promises as fs } from "node:fs";
import { EngineError, errnoCode, invalid } from "./errors.js";
import { run } from "./exec.js";

export interface IdRange {
  containerId: number;
  hostId: number;
  size: number;
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** The id the kernel shows inside a user namespace for a host id it does not map (overflowuid). */
export const OVERFLOW_ID = 65534;

export class IdMap {
  constructor(
    readonly uids: readonly IdRange[],
    readonly gids: readonly IdRange[],
  ) {
    if (uids.length === 0 || gids.length === 0) throw invalid("an id mapping needs at least one uid and one gid range");
  }

  /** Host ids of the container's root. */
  get root(): { uid: number; gid: number } {
    return { uid: this.hostUid(0), gid: this.hostGid(0) };
  }

  /** Container uid → host uid; an id outside every range is an error (Docker's message). */
  hostUid(id: number): number {
    return toHost(this.uids, id);
  }

  hostGid(id: number): number {
    return toHost(this.gids, id);
  }

  /** Host uid → container uid; unmapped host ids show as the overflow id, as the kernel shows them inside. */
  containerUid(id: number): number {
    return toContainer(this.uids, id) ?? OVERFLOW_ID;
  }

  containerGid(id: number): number {
    return toContainer(this.gids, id) ?? OVERFLOW_ID;
  }

  /** Both ids of an owner, container side → host side. */
  toHost(o: { uid: number; gid: number }): { uid: number; gid: number } {
    return { uid: this.hostUid(o.uid), gid: this.hostGid(o.gid) };
  }

  oci(): { uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] } {
    const conv = (r: IdRange): OciIdMapping => ({ containerID: r.containerId, hostID: r.hostId, size: r.size });
    return { uidMappings: this.uids.map(conv), gidMappings: this.gids.map(conv) };
  }

  /** The daemon's data-root subdirectory for this mapping (dockerd's `<uid>.<gid>`). */
  get dirName(): string {
    const r = this.root;
    return `${r.uid}.${r.gid}`;
  }
}

function toHost(ranges: readonly IdRange[], id: number): number {
  for (const r of ranges) if (id >= r.containerId && id < r.containerId + r.size) return r.hostId + (id - r.containerId);
  throw new EngineError("invalid", `Container ID ${id} cannot be mapped to a host ID`);
}

function toContainer(ranges: readonly IdRange[], id: number): number | undefined {
  for (const r of ranges) if (id >= r.hostId && id < r.hostId + r.size) return r.containerId + (id - r.hostId);
  return undefined;
}

export interface SubIdRange {
  start: number;
  count: number;
}

/**
 * The ranges of one owner in /etc/subuid or /etc/subgid text (`name:start:count`,
 * the owner given by name or by numeric id), in file order.
 */
export function parseSubIds(text: string, owner: { name: string; id?: number }): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [who, start, count] = line.split(":");
    if (who === undefined || start === undefined || count === undefined) continue;
    if (who !== owner.name && (owner.id === undefined || who !== String(owner.id))) continue;
    const s = Number(start);
    const c = Number(count);
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(c) || s < 0 || c <= 0) continue;
    out.push({ start: s, count: c });
  }
  return out;
}

/** Consecutive container ids over a user's subordinate ranges, as dockerd builds them. */
export function rangesToMap(ranges: readonly SubIdRange[]): IdRange[] {
  let next = 0;
  return ranges.map((r) => {
    const m = { containerId: next, hostId: r.start, size: r.count };
    next += r.count;
    return m;
  });
}

/** Where the next free range of `size` ids starts (after every range in the file, at least 100000). */
export function nextFreeStart(text: string, size = 65536): number {
  let start = 100000;
  for (const raw of text.split("\n")) {
    const [who, s, c] = raw.trim().split(":");
    if (!who || s === undefined || c === undefined) continue;
    const end = Number(s) + Number(c);
    if (Number.isSafeInteger(end) && end > start) start = end;
  }
  if (start + size > 0xffffffff) throw invalid("no free subordinate id range left");
  return start;
}

export interface PasswdEntry {
  name: string;
  id: number;
}

/** Look up a name or numeric id in /etc/passwd- or /etc/group-formatted text. */
export function lookupDb(text: string, key: string): PasswdEntry | undefined {
  const numeric = /^[0-9]+$/.test(key);
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || f[0] === undefined || f[2] === undefined) continue;
    if (numeric ? f[2] === key : f[0] === key) return { name: f[0], id: Number(f[2]) };
  }
  return undefined;
}

export interface RemapFiles {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

const DEFAULT_FILES: RemapFiles = { passwd: "/etc/passwd", group: "/etc/group", subuid: "/etc/subuid", subgid: "/etc/subgid" };

/** The user dockerd creates for `--userns-remap=default`. */
export const DEFAULT_REMAP_USER = "dockremap";

async function readText(p: string): Promise<string> {
  try {
    return await fs.readFile(p, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return "";
    throw e;
  }
}

/**
 * Resolve `--userns-remap` (dockerd's forms: `default`, `user`, `uid`, `user:group`,
 * `uid:gid`) to an id mapping from the subordinate id files. `default` creates the
 * system user `dockremap` and gives it a 65536-id range in /etc/subuid and
 * /etc/subgid when it has none (Debian's useradd and usermod), as dockerd does.
 */
export async function resolveRemap(spec: string, files: RemapFiles = DEFAULT_FILES): Promise<IdMap> {
  if (spec.trim() === "") throw invalid("--userns-remap needs a user name, a uid or \"default\"");
  const parts = spec.split(":");
  if (parts.length > 2 || parts.some((p) => p === "")) throw invalid(`invalid --userns-remap value "${spec}": use user[:group] or uid[:gid] or "default"`);
  let userKey = parts[0] as string;
  let groupKey = parts[1];
  if (userKey === "default" && groupKey === undefined) {
    userKey = DEFAULT_REMAP_USER;
    groupKey = DEFAULT_REMAP_USER;
    await ensureDefaultUser(files);
  }
  const user = lookupDb(await readText(files.passwd), userKey);
  if (!user) throw invalid(`--userns-remap: no such user "${userKey}" in ${files.passwd}`);
  if (user.id === 0) throw invalid("Can't create ID mappings for root user. The --userns-remap flag requires a non-root user");
  // A lone user names its group too (dockerd's rule); a group missing from /etc/group is looked up in subgid by name.
  const gKey = groupKey ?? user.name;
  const group = lookupDb(await readText(files.group), gKey) ?? (/^[0-9]+$/.test(gKey) ? undefined : { name: gKey, id: -1 });
  if (!group) throw invalid(`--userns-remap: no such group "${gKey}" in ${files.group}`);
  const uids = parseSubIds(await readText(files.subuid), { name: user.name, id: user.id });
  if (uids.length === 0) throw invalid(`no subuid ranges found for user "${user.name}" in ${files.subuid}`);
  const gids = parseSubIds(await readText(files.subgid), group.id >= 0 ? { name: group.name, id: group.id } : { name: group.name });
  if (gids.length === 0) throw invalid(`no subgid ranges found for group "${group.name}" in ${files.subgid}`);
  return new IdMap(rangesToMap(uids), rangesToMap(gids));
}

async function ensureDefaultUser(files: RemapFiles): Promise<void> {
  const name = DEFAULT_REMAP_USER;
  if (!lookupDb(await readText(files.passwd), name)) {
    await run("useradd", ["--system", "--shell", "/bin/false", "--no-create-home", "--user-group", name]).catch((e: unknown) => {
      throw new EngineError("internal", `creating the user ${name} for --userns-remap=default: ${(e as Error).message}`);
    });
  }
  const user = lookupDb(await readText(files.passwd), name);
  const args: string[] = [];
  const subuid = await readText(files.subuid);
  if (parseSubIds(subuid, { name, ...(user ? { id: user.id } : {}) }).length === 0) {
    const s = nextFreeStart(subuid);
    args.push("--add-subuids", `${s}-${s + 65535}`);
  }
  const subgid = await readText(files.subgid);
  if (parseSubIds(subgid, { name }).length === 0) {
    const s = nextFreeStart(subgid);
    args.push("--add-subgids", `${s}-${s + 65535}`);
  }
  if (args.length > 0) await run("usermod", [...args, name]);
}
