/** `berth build` (the legacy builder's API: POST /build with a tar of the context). */
import type { Command } from "commander";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { type AuthConfig, allAuths, convertToHostname, readConfig } from "../auth.js";
import { jsonLines, readBody } from "../client.js";
import { StatusError, collect, getClient, outln } from "../context.js";
import { referenceError, splitRepoTag } from "../format.js";
import { listContext, packContext, parseKeyValues, readDockerignore } from "../buildctx.js";
import type { JSONMessage } from "../progress.js";
import { ProgressDisplay, StreamError } from "../progress.js";

interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  cache: boolean;
  target?: string;
  quiet?: boolean;
  label?: string[];
  network?: string;
  pull?: boolean;
  rm: boolean;
  forceRm?: boolean;
  platform?: string;
  iidfile?: string;
}

/** X-Registry-Config: every stored credential (base64url JSON map). */
function registryConfigHeader(): string {
  const all: Record<string, AuthConfig> = {};
  try {
    for (const [k, a] of Object.entries(allAuths(readConfig()))) {
      all[k] = a;
      all[convertToHostname(k)] ??= a;
    }
  } catch {
    // unreadable config: no credentials
  }
  return Buffer.from(JSON.stringify(all)).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

function isTarHeader(b: Buffer): boolean {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true; // gzip
  if (b.length >= 3 && b.subarray(0, 3).toString("latin1") === "BZh") return true;
  if (b.length >= 6 && b[0] === 0xfd && b.subarray(1, 6).toString("latin1") === "7zXZ\0") return true;
  return b.length >= 262 && b.subarray(257, 262).toString("latin1") === "ustar";
}

/** A tar holding one Dockerfile (a Dockerfile piped on stdin). */
function singleFileTar(name: string, data: Buffer): Readable {
  const p = pack();
  p.entry({ name, mode: 0o644, mtime: new Date(), size: data.length }, data);
  p.finalize();
  return Readable.from(p as AsyncIterable<Buffer>);
}

/** The tar body and the `dockerfile` query for a context argument. */
async function contextBody(ctxArg: string, file: string | undefined): Promise<{ body: Readable; dockerfile?: string }> {
  if (ctxArg === "-") {
    if (file === "-") throw new Error("invalid argument: can't use stdin for both build context and dockerfile");
    const data = await readBody(process.stdin);
    if (isTarHeader(data)) return { body: Readable.from([data]), ...(file ? { dockerfile: file } : {}) };
    return { body: singleFileTar("Dockerfile", data) };
  }
  if (/^(https?:\/\/|git@|git:\/\/|github\.com\/)/.test(ctxArg)) throw new Error(`unable to prepare context: remote contexts are not supported: ${ctxArg}`);
  const root = path.resolve(ctxArg);
  if (!existsSync(root)) throw new Error(`unable to prepare context: path "${ctxArg}" not found`);
  if (!statSync(root).isDirectory()) throw new Error(`unable to prepare context: context must be a directory: ${root}`);
  const patterns = readDockerignore(root);
  const extra: { name: string; data: Buffer }[] = [];
  let dockerfile = "Dockerfile";
  if (file === "-") {
    dockerfile = `.dockerfile.${randomBytes(10).toString("hex")}`;
    extra.push({ name: dockerfile, data: await readBody(process.stdin) });
  } else {
    const abs = file ? path.resolve(file) : path.join(root, "Dockerfile");
    let exists = existsSync(abs);
    if (!file && !exists && existsSync(path.join(root, "dockerfile"))) exists = true;
    if (!exists) throw new Error(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`);
    const rel = path.relative(root, abs);
    if (!file && !existsSync(abs)) dockerfile = "dockerfile";
    else if (rel.startsWith("..") || path.isAbsolute(rel)) {
      // A Dockerfile outside the context travels inside it under a random name.
      dockerfile = `.dockerfile.${randomBytes(10).toString("hex")}`;
      extra.push({ name: dockerfile, data: readFileSync(abs) });
    } else dockerfile = rel.split(path.sep).join("/");
  }
  const entries = listContext(root, patterns, [dockerfile, ".dockerignore"]);
  return { body: packContext(entries, extra), dockerfile };
}

export function registerBuild(parent: Command): void {
  parent
    .command("build")
    .description("Build an image from a Dockerfile")
    .usage("[OPTIONS] PATH | URL | -")
    .option("-t, --tag <name>", 'Name and optionally a tag in the "name:tag" format', collect)
    .option("-f, --file <string>", "Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    .option("--build-arg <list>", "Set build-time variables", collect)
    .option("--no-cache", "Do not use cache when building the image")
    .option("--target <string>", "Set the target build stage to build.")
    .option("-q, --quiet", "Suppress the build output and print image ID on success")
    .option("--label <list>", "Set metadata for an image", collect)
    .option("--network <string>", "Set the networking mode for the RUN instructions during build", "default")
    .option("--pull", "Always attempt to pull a newer version of the image")
    .option("--no-rm", "Do not remove intermediate containers after a successful build")
    .option("--force-rm", "Always remove intermediate containers")
    .option("--platform <string>", "Set platform if server is multi-platform capable")
    .option("--iidfile <string>", "Write the image ID to the file")
    .argument("<context>")
    .action(async (ctxArg: string, flags: BuildFlags) => {
      for (const t of flags.tag ?? []) {
        const usage = `\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information`;
        const { repo } = splitRepoTag(t);
        if (repo !== repo.toLowerCase()) {
          const first = repo.split("/")[0] ?? "";
          const hasDomain = repo.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
          const remote = hasDomain ? repo.slice(first.length + 1) : repo.includes("/") ? repo : `library/${repo}`;
          throw new StatusError(125, `invalid argument "${t}" for "-t, --tag" flag: invalid reference format: repository name (${remote}) must be lowercase${usage}`);
        }
        const err = referenceError(t);
        if (err) throw new StatusError(125, `invalid argument "${t}" for "-t, --tag" flag: ${err}${usage}`);
      }
      const client = getClient();
      await client.apiVersion();
      const { body, dockerfile } = await contextBody(ctxArg, flags.file);
      const res = await client.request("POST", "/build", {
        query: {
          t: flags.tag,
          dockerfile,
          buildargs: flags.buildArg ? JSON.stringify(parseKeyValues(flags.buildArg, process.env)) : undefined,
          labels: flags.label ? JSON.stringify(parseKeyValues(flags.label)) : undefined,
          nocache: flags.cache === false || undefined,
          target: flags.target,
          q: flags.quiet || undefined,
          networkmode: flags.network,
          pull: flags.pull || undefined,
          rm: flags.rm !== false,
          forcerm: flags.forceRm || undefined,
          platform: flags.platform,
        },
        body,
        contentType: "application/x-tar",
        headers: { "X-Registry-Config": registryConfigHeader() },
      });
      let imageId = "";
      let buffered = "";
      const o = process.stdout;
      const tty = o.isTTY === true && !flags.quiet;
      const timer = tty ? new StepTimer((s) => o.write(s), o.columns || 80, o.rows || 24) : undefined;
      const sink = flags.quiet
        ? { write: (s: string) => void (buffered += s), isTTY: false }
        : { write: (s: string) => (timer ? timer.write(s) : o.write(s)), isTTY: tty, ...(o.columns ? { columns: o.columns } : {}) };
      const display = new ProgressDisplay(sink, {
        onAux: (aux) => {
          const id = (aux as { ID?: unknown } | null)?.ID;
          if (typeof id === "string") imageId = id;
        },
      });
      try {
        for await (const jm of jsonLines<JSONMessage>(res)) display.display(jm);
      } catch (e) {
        timer?.end();
        if (flags.quiet && buffered !== "") process.stderr.write(buffered);
        if (e instanceof StreamError) throw new StatusError(e.code && e.code > 0 ? e.code : 1, e.message);
        throw e;
      }
      timer?.end();
      if (flags.iidfile && imageId) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(flags.iidfile, imageId);
      }
      // docker -q prints what the daemon streamed (the image id), else the aux ID.
      if (flags.quiet) {
        if (buffered.trim() !== "") process.stdout.write(buffered.endsWith("\n") ? buffered : `${buffered}\n`);
        else outln(imageId);
      }
    });
}

/**
 * On a terminal, the time a step took is appended to its line when the next
 * step (or the end) arrives: "Step 2/4 : COPY . / (0.3s)". The line is
 * rewritten in place by moving the cursor up over what the step printed, unless
 * that scrolled it off the screen.
 */
export class StepTimer {
  private stepLine: string | undefined;
  private stepStart = 0;
  /** Screen rows printed since the step line. */
  private rowsSince = 0;
  private partial = 0;

  constructor(
    private readonly out: (s: string) => unknown,
    private readonly columns: number = 80,
    private readonly rows: number = 24,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private finishStep(): void {
    if (this.stepLine === undefined) return;
    const secs = ((this.now() - this.stepStart) / 1000).toFixed(1);
    const up = this.rowsSince + 1;
    const text = `${this.stepLine} (${secs}s)`;
    if (up < this.rows - 1 && text.length < this.columns) {
      this.out(`\x1b[s\x1b[${up}A\r\x1b[2K${text}\x1b[u`);
    }
    this.stepLine = undefined;
  }

  /** Text of the build stream (may hold several lines). */
  write(s: string): void {
    for (const l of s.split(/(?<=\n)/)) {
      if (l === "") continue;
      const m = this.partial === 0 ? l.match(/^(Step \d+\/\d+ : .*)\n$/) : null;
      if (m) {
        this.finishStep();
        this.stepLine = m[1] as string;
        this.stepStart = this.now();
        this.rowsSince = 0;
        this.partial = 0;
        this.out(l);
        continue;
      }
      this.out(l);
      const body = l.endsWith("\n") ? l.slice(0, -1) : l;
      const width = this.partial + body.length;
      if (l.endsWith("\n")) {
        this.rowsSince += Math.max(1, Math.ceil(width / this.columns));
        this.partial = 0;
      } else this.partial = width;
    }
  }

  end(): void {
    this.finishStep();
  }
}
