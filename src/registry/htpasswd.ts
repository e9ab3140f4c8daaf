/**
 * htpasswd basic auth, as docker/distribution's `auth: htpasswd`: bcrypt hashes
 * only ($2y$/$2a$/$2b$, via bcryptjs). Entries with another scheme ({SHA},
 * MD5 $apr1$, crypt, plain) are refused with a log line when the file is loaded:
 * an unsalted SHA-1 falls to a dictionary at once. A name that is not in the
 * file costs the same bcrypt comparison as a wrong password (against a dummy
 * hash of the file's highest cost), so names cannot be found by timing. The
 * file is re-read when it changes; successful checks are cached (bcrypt is slow
 * on purpose and a push makes dozens of requests).
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import bcrypt from "bcryptjs";
import type { Logger } from "../util/log.js";
import { bestEffort } from "../util/besteffort.js";

const BCRYPT_RE = /^\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const DEFAULT_COST = 10;

export interface ParsedHtpasswd {
  /** user → bcrypt hash */
  users: Map<string, string>;
  /** Entries that are not bcrypt, with their 1-based line numbers. */
  refused: { user: string; line: number }[];
}

export function parseHtpasswd(text: string): ParsedHtpasswd {
  const users = new Map<string, string>();
  const refused: { user: string; line: number }[] = [];
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const user = line.slice(0, i);
    const hash = line.slice(i + 1);
    if (BCRYPT_RE.test(hash)) users.set(user, hash);
    else {
      users.delete(user);
      refused.push({ user, line: n + 1 });
    }
  }
  return { users, refused };
}

/** Check one password against one htpasswd hash: bcrypt only, anything else is false. */
export async function verifyHtpasswdHash(password: string, hash: string): Promise<boolean> {
  if (!BCRYPT_RE.test(hash)) return false;
  // bcryptjs understands $2a$/$2b$; $2y$ (htpasswd -B) is the same algorithm.
  return bcrypt.compare(password, hash.replace(/^\$2[xy]\$/, "$2b$"));
}

/** A well-formed bcrypt hash of that cost that no password matches in practice (fresh salt, fixed digest). */
function dummyHash(cost: number): string {
  return `${bcrypt.genSaltSync(cost)}${".".repeat(31)}`;
}

export class Htpasswd {
  private users = new Map<string, string>();
  private dummy = dummyHash(DEFAULT_COST);
  private mtimeMs = -1;
  private readonly ok = new Map<string, number>();

  constructor(
    readonly file: string,
    private readonly log?: Logger,
  ) {}

  async load(): Promise<void> {
    const st = await fs.stat(this.file);
    if (st.mtimeMs === this.mtimeMs) return;
    const { users, refused } = parseHtpasswd(await fs.readFile(this.file, "utf8"));
    for (const r of refused) {
      this.log?.warn(`registry: htpasswd ${this.file}:${r.line}: user "${r.user}" ignored: only bcrypt hashes are accepted (htpasswd -B)`);
    }
    const costs = [...users.values()].map((h) => Number(BCRYPT_RE.exec(h)?.[1] ?? DEFAULT_COST));
    this.dummy = dummyHash(Math.max(4, Math.min(31, costs.length > 0 ? Math.max(...costs) : DEFAULT_COST)));
    this.users = users;
    this.mtimeMs = st.mtimeMs;
    this.ok.clear();
  }

  async verify(user: string, password: string): Promise<boolean> {
    await this.load().catch(bestEffort("reload the htpasswd file (the users loaded before stay)"));
    const hash = this.users.get(user);
    if (hash === undefined) {
      await bcrypt.compare(password, this.dummy);
      return false;
    }
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
