/**
 * Build arguments with Docker's scoping rules: `--build-arg` values override
 * ARG defaults; a stage sees only the ARGs it declares (a declaration without a
 * default takes the global ARG's value); the proxy variables are predefined
 * and, unless declared, kept out of the image history; build args that no ARG
 * consumed are reported.
 */

export const BUILTIN_ARGS = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]);

export class BuildArgs {
  /** Declared in the current stage (undefined value: no default). */
  private allowed = new Map<string, string | undefined>();
  /** Declared before the first FROM. */
  private readonly meta = new Map<string, string | undefined>();
  /** Names some ARG declared (for the unused warning). */
  private readonly referenced = new Set<string>();

  constructor(readonly fromOptions: Readonly<Record<string, string | null>>) {}

  clone(): BuildArgs {
    const c = new BuildArgs(this.fromOptions);
    for (const [k, v] of this.allowed) c.allowed.set(k, v);
    for (const [k, v] of this.meta) c.meta.set(k, v);
    for (const k of this.referenced) c.referenced.add(k);
    return c;
  }

  resetAllowed(): void {
    this.allowed = new Map();
  }

  mergeReferenced(other: BuildArgs): void {
    for (const k of other.referenced) this.referenced.add(k);
  }

  addArg(key: string, value: string | undefined): void {
    this.allowed.set(key, value);
    this.referenced.add(key);
  }

  addMetaArg(key: string, value: string | undefined): void {
    this.meta.set(key, value);
  }

  /** A value the builder predefines in the global scope (BuildKit's TARGETPLATFORM and friends). */
  predefine(key: string, value: string): void {
    this.meta.set(key, value);
  }

  isReferencedOrNotBuiltin(key: string): boolean {
    return this.allowed.has(key) || !BUILTIN_ARGS.has(key);
  }

  private get(key: string, mapping: Map<string, string | undefined>): string | undefined {
    const opt = this.fromOptions[key];
    if (opt !== undefined && opt !== null) return opt;
    const def = mapping.get(key);
    if (def === undefined) return this.meta.get(key);
    return def;
  }

  private all(mapping: Map<string, string | undefined>): Map<string, string> {
    const out = new Map<string, string>();
    for (const k of new Set([...mapping.keys(), ...BUILTIN_ARGS])) {
      const v = this.get(k, mapping);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  /** Args usable in the current stage, with their values. */
  allAllowed(): Map<string, string> {
    return this.all(this.allowed);
  }

  /** Global args (for FROM lines). */
  allMeta(): Map<string, string> {
    return this.all(this.meta);
  }

  /** `KEY=value` for the allowed args that the environment does not already set (ENV wins). */
  filterAllowed(env: readonly string[]): string[] {
    const set = new Set(env.map((e) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e)));
    const out: string[] = [];
    for (const [k, v] of this.allAllowed()) if (!set.has(k)) out.push(`${k}=${v}`);
    return out;
  }

  /** Build args given by the client that no ARG consumed. */
  unused(): string[] {
    return Object.keys(this.fromOptions)
      .filter((k) => !this.referenced.has(k) && !BUILTIN_ARGS.has(k))
      .sort();
  }
}
