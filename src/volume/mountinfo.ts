/** The host's mount table (/proc/self/mountinfo): which paths are mount points. */
import { promises as fs } from "node:fs";

/** Mount points in mountinfo are octal-escaped (\040 for a space, \011, \012, \134). */
export function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every mount point listed in a mountinfo text (field 5), in table order. */
export function parseMountinfo(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 5 || f[4] === undefined) continue;
    out.push(unescapeMountPath(f[4]));
  }
  return out;
}

export async function mountPoints(): Promise<string[]> {
  return parseMountinfo(await fs.readFile("/proc/self/mountinfo", "utf8"));
}

/** True when something is mounted exactly at p. */
export async function isMountPoint(p: string): Promise<boolean> {
  return (await mountPoints()).includes(p);
}

/** Mount points at p or below it. */
export async function mountsAtOrUnder(p: string): Promise<string[]> {
  const prefix = p.endsWith("/") ? p : `${p}/`;
  return (await mountPoints()).filter((m) => m === p || m.startsWith(prefix));
}
