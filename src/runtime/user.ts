import fss from "node:fs";
import { ScopeError, ScopedRoot, at, closeQuietly } from "../image/index.js";
import { invalid } from "../util/errors.js";
import type { OciUser } from "./spec.js";

/**
 * Read a file inside a container root without following any symlink out of it:
 * symlinks are resolved as the container sees them, one directory descriptor at
 * a time (image's ScopedRoot), and the file is opened from its directory's
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

const NUM = /^\d+$/;

/**
 * Docker's `--user` forms: "", "name", "uid", "name:group", "uid:gid", with
 * supplementary groups from /etc/group. Numeric ids need no passwd entry.
 */
export async function resolveUser(root: string, spec: string, extraGroups: string[] = []): Promise<OciUser & { home: string }> {
  const [userPart = "", groupPart] = spec.split(":", 2);
  const needFiles = (userPart !== "" && !NUM.test(userPart)) || (groupPart !== undefined && !NUM.test(groupPart)) || true;
  const passwd = needFiles ? parsePasswd(await readInRoot(root, "/etc/passwd")) : [];
  const groups = parseGroup(await readInRoot(root, "/etc/group"));
  let uid = 0;
  let gid = 0;
  let home = "/";
  let name: string | undefined;
  if (userPart === "") {
    const e = passwd.find((p) => p.uid === 0);
    name = e?.name ?? "root";
    home = e?.home ?? "/root";
  } else if (NUM.test(userPart)) {
    uid = Number(userPart);
    const e = passwd.find((p) => p.uid === uid);
    gid = e?.gid ?? 0;
    home = e?.home ?? "/";
    name = e?.name;
  } else {
    const e = passwd.find((p) => p.name === userPart);
    if (!e) throw invalid(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = e.uid;
    gid = e.gid;
    home = e.home;
    name = e.name;
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (NUM.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalid(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additional = new Set<number>();
  if (name !== undefined && groupPart === undefined) for (const g of groups) if (g.members.includes(name) && g.gid !== gid) additional.add(g.gid);
  for (const eg of extraGroups) {
    if (NUM.test(eg)) additional.add(Number(eg));
    else {
      const g = groups.find((x) => x.name === eg);
      if (!g) throw invalid(`unable to find group ${eg}`);
      additional.add(g.gid);
    }
  }
  return { uid, gid, ...(additional.size ? { additionalGids: [...additional] } : {}), home };
}
