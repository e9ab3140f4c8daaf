import fss from "node:fs";
import { at, closeQuietly } from "../util/fdpath.js";
import { ScopeError, ScopedRoot } from "../util/scopedroot.js";
import { invalid } from "../util/errors.js";
import type { OciUser } from "./spec.js";

/**
 * Read a file inside a container root without following any symlink out of it:
 * symlinks are resolved as the container sees them, one directory descriptor at
 * a time (util/scopedroot.ts), and the file is opened from its directory's
 * descriptor with O_NOFOLLOW, so a container that changes the tree meanwhile (a
 * volume it shares mounted at /etc) cannot make it read a host file. Undefined
 * when it is missing, not a regular file, or larger than 16 MiB.
 */
export async function readInRoot(root: string, file: string): Promise<string | undefined> {
  let scoped: ScopedRoot;
  try {
    scoped = ScopedRoot.open(root);
  } catch {
    return undefined;
  }
  try {
    let r;
    try {
      r = scoped.resolve(file, true);
    } catch (e) {
      if (e instanceof ScopeError) return undefined;
      throw e;
    }
    try {
      if (!r.stat?.isFile() || r.stat.size > MAX_ETC_FILE) return undefined;
      let fd: number;
      try {
        fd = fss.openSync(at(r.dirFd, r.name), fss.constants.O_RDONLY | fss.constants.O_NOFOLLOW | fss.constants.O_NONBLOCK);
      } catch {
        return undefined; // replaced meanwhile
      }
      try {
        const st = fss.fstatSync(fd);
        if (!st.isFile() || st.size > MAX_ETC_FILE) return undefined;
        return fss.readFileSync(fd, "utf8");
      } finally {
        closeQuietly(fd);
      }
    } finally {
      r.close();
    }
  } finally {
    scoped.close();
  }
}

const MAX_ETC_FILE = 16 * 1024 * 1024;

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  if (!text) return [];
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || f[0] === undefined) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "/" });
  }
  return out;
}

function parseGroup(text: string | undefined): { name: string; gid: number; members: string[] }[] {
  if (!text) return [];
  const out: { name: string; gid: number; members: string[] }[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || f[0] === undefined) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) });
  }
  return out;
}

/** Go's strconv.Atoi: an optional sign and decimal digits within int64, else not a number. */
function atoi(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Math.abs(n) <= 2 ** 63 ? n : undefined;
}

const MAX_ID = 2 ** 31 - 1;

function checkRange(id: number): number {
  if (id < 0 || id > MAX_ID) throw invalid(`uids and gids must be in range 0-${MAX_ID}`);
  return id;
}

/**
 * Docker's `--user` forms as runc's user lookup reads them ("", "name", "uid",
 * "name:group", "uid:gid", ":gid"): numeric ids need no entry; the implicit form
 * (no group) takes the supplementary groups that list the user in /etc/group.
 * The process's additional gids are, as dockerd builds them, the primary gid,
 * then those supplementary groups, then `--group-add`'s.
 */
export async function resolveUser(root: string, spec: string, extraGroups: string[] = []): Promise<OciUser & { home: string }> {
  const [userPart = "", groupPart = ""] = spec.split(":");
  const passwdText = await readInRoot(root, "/etc/passwd");
  const groupText = await readInRoot(root, "/etc/group");
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const uidArg = atoi(userPart);
  const gidArg = atoi(groupPart);
  let uid = 0;
  let gid = 0;
  let home = "/";
  const e = userPart === "" ? passwd.find((p) => p.uid === 0) : uidArg !== undefined ? passwd.find((p) => p.uid === uidArg) : passwd.find((p) => p.name === userPart);
  if (e) {
    [uid, gid, home] = [e.uid, e.gid, e.home];
  } else if (userPart === "") {
    home = "/root";
  } else {
    if (uidArg === undefined) throw invalid(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = checkRange(uidArg);
  }
  let sgids: number[] = [];
  if (groupPart !== "") {
    const g = gidArg !== undefined ? groups.find((x) => x.gid === gidArg) : groups.find((x) => x.name === groupPart);
    if (g) gid = g.gid;
    else if (gidArg === undefined) throw invalid(`unable to find group ${groupPart}: no matching entries in group file`);
    else gid = checkRange(gidArg);
  } else if (e) {
    sgids = groups.filter((g) => g.members.includes(e.name)).map((g) => g.gid);
  }
  return { uid, gid, additionalGids: [gid, ...sgids, ...additionalGroups(groups, extraGroups)], home };
}

/**
 * `--group-add` as runc's lookup resolves it: a name or gid found in /etc/group
 * (each entry taken once: naming a group twice by name fails, as with dockerd),
 * else a number.
 */
function additionalGroups(groups: { name: string; gid: number }[], wanted: string[]): number[] {
  const taken = new Set<number>();
  for (const w of wanted) {
    const g = groups.find((x) => (x.name === w || String(x.gid) === w) && !taken.has(x.gid));
    if (g) {
      taken.add(g.gid);
      continue;
    }
    const n = atoi(w);
    if (n === undefined) throw invalid(`Unable to find group ${w}: no matching entries in group file`);
    taken.add(checkRange(n));
  }
  return [...taken];
}
