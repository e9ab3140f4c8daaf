/**
 * The build context: the tar the client sends (plain or gzip), unpacked with
 * the image store's hardened extractor into a private directory, the
 * Dockerfile read from it, and `.dockerignore` applied (excluded paths are
 * removed, so nothing later can see them).
 */
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { invalid, messageOf, isEngineError } from "../../util/errors.js";
import { mkdirp } from "../../util/fsutil.js";
import { MAX_BUILD_FILE_BYTES } from "../../util/limits.js";
import { extractArchive } from "./archive.js";
import { resolveInRoot } from "./fsops.js";
import { IgnoreMatcher, parseDockerignore } from "../dockerfile/index.js";

const MAX_DOCKERFILE = MAX_BUILD_FILE_BYTES;

export class BuildContext {
  private constructor(
    /** The private directory (removed by dispose). */
    readonly dir: string,
    /** The context root inside it. */
    readonly root: string,
  ) {}

  static async fromTar(tar: Readable, tmpRoot: string, signal?: AbortSignal): Promise<BuildContext> {
    const dir = path.join(tmpRoot, `ctx-${randomBytes(8).toString("hex")}`);
    const root = path.join(dir, "context");
    await mkdirp(root, 0o700);
    const ctx = new BuildContext(dir, root);
    try {
      await extractArchive(tar, root, { signal, context: true });
    } catch (e) {
      await ctx.dispose();
      if (isEngineError(e)) throw invalid(`failed to read the build context: ${e.message}`);
      throw e;
    }
    return ctx;
  }

  async dispose(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  /** Read a regular file of the context (symlinks resolved inside the context); undefined if missing. */
  readFile(rel: string): string | undefined {
    const { host } = resolveInRoot(this.root, rel);
    const st = fss.lstatSync(host, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return undefined;
    if (st.size > MAX_DOCKERFILE) throw invalid(`${rel} is too large (${st.size} bytes)`);
    return fss.readFileSync(host, "utf8");
  }

  /** The Dockerfile (`dockerfile` query parameter; "Dockerfile" falls back to "dockerfile" as Docker does). */
  readDockerfile(name: string): { name: string; text: string } {
    const wanted = name === "" ? "Dockerfile" : name;
    let text = this.readFile(wanted);
    let used = wanted;
    if (text === undefined && wanted === "Dockerfile") {
      text = this.readFile("dockerfile");
      used = "dockerfile";
    }
    if (text === undefined) throw invalid(`Cannot locate specified Dockerfile: ${wanted}`);
    return { name: used, text };
  }

  /**
   * Apply `.dockerignore`: remove every excluded path (directories with
   * re-included children are kept for them). Returns the matcher (undefined
   * without a .dockerignore).
   */
  async applyDockerignore(): Promise<IgnoreMatcher | undefined> {
    const text = this.readFile(".dockerignore");
    if (text === undefined) return undefined;
    let m: IgnoreMatcher;
    try {
      m = new IgnoreMatcher(parseDockerignore(text));
    } catch (e) {
      throw invalid(`error reading .dockerignore: ${messageOf(e)}`);
    }
    if (m.empty) return m;
    const prune = async (dir: string, rel: string): Promise<boolean> => {
      // Returns true when dir is empty afterwards.
      let left = 0;
      for (const d of fss.readdirSync(dir, { withFileTypes: true })) {
        const r = rel === "" ? d.name : `${rel}/${d.name}`;
        const p = path.join(dir, d.name);
        const excluded = m.excluded(r);
        if (d.isDirectory()) {
          if (excluded && !m.hasExclusions) {
            await fs.rm(p, { recursive: true, force: true });
            continue;
          }
          const empty = await prune(p, r);
          if (excluded && empty) {
            fss.rmdirSync(p);
            continue;
          }
          left++;
          continue;
        }
        if (excluded) {
          fss.unlinkSync(p);
          continue;
        }
        left++;
      }
      return left === 0;
    };
    await prune(this.root, "");
    return m;
  }
}
