/**
 * Docker's context store, in the same place and format as the docker CLI:
 * <config>/contexts/meta/<sha256(name)>/meta.json and the TLS material in
 * <config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem. The "default"
 * context is not stored: it is the -H / DOCKER_HOST / TLS-flags configuration.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "./config.js";

export const DEFAULT_CONTEXT = "default";
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;
const TLS_FILES = ["ca.pem", "cert.pem", "key.pem"] as const;

export interface DockerEndpointMeta {
  Host: string;
  SkipTLSVerify: boolean;
}

export interface ContextMeta {
  Name: string;
  Metadata: { Description?: string; [k: string]: unknown };
  Endpoints: { docker?: DockerEndpointMeta; [k: string]: unknown };
}

/** TLS material of a context's docker endpoint (PEM contents). */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export class ContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContextError";
  }
}

export const contextDigest = (name: string): string => createHash("sha256").update(name).digest("hex");

export function validateContextName(name: string): void {
  if (name === DEFAULT_CONTEXT) throw new ContextError(`"default" is a reserved context name`);
  if (!NAME_RE.test(name)) throw new ContextError(`context name "${name}" is invalid, names are validated against regexp "${NAME_RE.source}"`);
}

export class ContextStore {
  constructor(readonly configDir: string) {}

  metaDir(name: string): string {
    return path.join(this.configDir, "contexts", "meta", contextDigest(name));
  }

  tlsDir(name: string): string {
    return path.join(this.configDir, "contexts", "tls", contextDigest(name));
  }

  exists(name: string): boolean {
    return existsSync(path.join(this.metaDir(name), "meta.json"));
  }

  /** A stored context; ContextError (docker's wording) when there is none. */
  get(name: string): ContextMeta {
    const file = path.join(this.metaDir(name), "meta.json");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new ContextError(`context "${name}": context not found: open ${file}: no such file or directory`);
    }
    const m = JSON.parse(text) as Partial<ContextMeta>;
    return { Name: m.Name ?? name, Metadata: m.Metadata ?? {}, Endpoints: m.Endpoints ?? {} };
  }

  /** All stored contexts, by name. */
  list(): ContextMeta[] {
    const dir = path.join(this.configDir, "contexts", "meta");
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return [];
    }
    const out: ContextMeta[] = [];
    for (const d of entries) {
      try {
        const m = JSON.parse(readFileSync(path.join(dir, d, "meta.json"), "utf8")) as ContextMeta;
        if (typeof m.Name === "string") out.push({ Name: m.Name, Metadata: m.Metadata ?? {}, Endpoints: m.Endpoints ?? {} });
      } catch {
        // not a context directory
      }
    }
    return out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  }

  tls(name: string): TlsMaterial {
    const dir = path.join(this.tlsDir(name), "docker");
    const out: TlsMaterial = {};
    for (const f of TLS_FILES) {
      const p = path.join(dir, f);
      if (existsSync(p)) out[f.slice(0, -4) as keyof TlsMaterial] = readFileSync(p);
    }
    return out;
  }

  /** The TLS file names stored for the docker endpoint (inspect's TLSMaterial). */
  tlsFiles(name: string): string[] {
    const dir = path.join(this.tlsDir(name), "docker");
    return TLS_FILES.filter((f) => existsSync(path.join(dir, f)));
  }

  /** Create a context (refusing an existing name), with its TLS material. */
  create(meta: ContextMeta, tls: TlsMaterial = {}): void {
    validateContextName(meta.Name);
    if (this.exists(meta.Name)) throw new ContextError(`context "${meta.Name}" already exists`);
    const tdir = path.join(this.tlsDir(meta.Name), "docker");
    for (const f of TLS_FILES) {
      const data = tls[f.slice(0, -4) as keyof TlsMaterial];
      if (data) {
        mkdirSync(tdir, { recursive: true, mode: 0o700 });
        writeFileAtomic(path.join(tdir, f), data, f === "key.pem" ? 0o600 : 0o644);
      }
    }
    // meta.json last: a crash before it leaves no half-made context.
    writeFileAtomic(path.join(this.metaDir(meta.Name), "meta.json"), JSON.stringify(meta), 0o644);
  }

  remove(name: string): void {
    if (!this.exists(name)) throw new ContextError(`context "${name}" does not exist`);
    rmSync(this.metaDir(name), { recursive: true, force: true });
    rmSync(this.tlsDir(name), { recursive: true, force: true });
  }
}
