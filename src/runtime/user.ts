import { promises as fs } from "node:fs";
import path from "node:path";
import { invalid, errnoCode } from "../util/errors.js";
import type { OciUser } from "./spec.js";

/**
 * Read a file inside a container root without following any symlink out of it:
 * every component is lstat'ed; a symlink is resolved against the root, not the host.
 */
export async function readInRoot(root: string, file: string, maxLinks = 40): Promise<string | undefined> {
  const parts = file.split("/").filter((p) => p !== "" && p !== ".");
  let cur: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const p = parts.shift() as string;
    if (p === "..") {
      cur.pop();
      continue;
    }
    const candidate = path.join(root, ...cur, p);
    let st;
    try {
      st = await fs.lstat(candidate);
    } catch (e) {
      if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
      throw e;
    }
    if (st.isSymbolicLink()) {
      if (++links > maxLinks) return undefined;
      const target = await fs.readlink(candidate);
      if (target.startsWith("/")) cur = [];
      parts.unshift(...target.split("/").filter((x) => x !== "" && x !== "."));
      continue;
    }
    cur.push(p);
  }
  const final = path.join(root, ...cur);
  try {
    const st = await fs.lstat(final);
    if (!st.isFile() || st.size > 16 * 1024 * 1024) return undefined;
    return await fs.readFile(final, "utf8");
  } catch {
    return undefined;
  }
}

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
