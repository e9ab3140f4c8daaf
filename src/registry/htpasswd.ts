/**
 * htpasswd basic auth, as docker/distribution's `auth: htpasswd`: bcrypt hashes
 * ($2y$/$2a$/$2b$, via bcryptjs) and `{SHA}` (base64 SHA-1). The file is
 * re-read when it changes; successful checks are cached (bcrypt is slow on
 * purpose and a push makes dozens of requests).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { promises as fs } from "node:fs";
import bcrypt from "bcryptjs";

export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const i = line.indexOf(":");
    if (i <= 0) continue;
    users.set(line.slice(0, i), line.slice(i + 1));
  }
  return users;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Check one password against one htpasswd hash. */
export async function verifyHtpasswdHash(password: string, hash: string): Promise<boolean> {
  if (/^\$2[abxy]\$\d\d\$/.test(hash)) {
    // bcryptjs understands $2a$/$2b$; $2y$ (htpasswd -B) is the same algorithm.
    return bcrypt.compare(password, hash.replace(/^\$2[xy]\$/, "$2b$"));
  }
  if (hash.startsWith("{SHA}")) {
    const want = hash.slice(5);
    const got = createHash("sha1").update(password).digest("base64");
    return safeEqual(got, want);
  }
  return false;
}

export class Htpasswd {
  private users = new Map<string, string>();
  private mtimeMs = -1;
  private readonly ok = new Map<string, number>();

  constructor(readonly file: string) {}

  async load(): Promise<void> {
    const st = await fs.stat(this.file);
    if (st.mtimeMs === this.mtimeMs) return;
    this.users = parseHtpasswd(await fs.readFile(this.file, "utf8"));
    this.mtimeMs = st.mtimeMs;
    this.ok.clear();
  }

  async verify(user: string, password: string): Promise<boolean> {
    await this.load().catch(() => undefined);
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    const key = createHash("sha256").update(`${user}\0${password}\0${hash}`).digest("hex");
    if (this.ok.has(key)) return true;
    if (!(await verifyHtpasswdHash(password, hash))) return false;
    if (this.ok.size > 1000) this.ok.clear();
    this.ok.set(key, Date.now());
    return true;
  }
}

/** Parse an `Authorization: Basic ...` header. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const text = Buffer.from(m[1], "base64").toString("utf8");
  const i = text.indexOf(":");
  if (i < 0) return undefined;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}
