/**
 * One build (Docker's legacy builder protocol): runs a Dockerfile against a
 * build context, step by step, printing Docker's progress lines.
 *
 * Every step's result is an image record (untagged, its parent recorded), so
 * " ---> <id>" names an image. Metadata steps (ENV, LABEL, CMD, …) make no
 * layer (history `empty_layer: true`); RUN, COPY/ADD and WORKDIR commit the
 * changes of a snapshot as a layer when there are any.
 *
 * The cache: a step is reused when its parent image and its container config
 * (the instruction after substitution, the environment, the build args in
 * use, and for COPY/ADD the content hash of the sources) match an earlier
 * step's; after the first miss in a stage, the rest of the stage runs.
 *
 * Stages: only the stages the target (the last stage, or `--target`) needs are
 * built — through FROM <stage> and COPY --from=<stage>.
 *
 * One class on purpose (~750 lines): the steps share the stage state, the step
 * counter and the cache probe/commit path; COPY/ADD sources live in
 * copysources.ts, RUN containers in run.ts, file operations in fsops.ts.
 */
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import { bestEffort } from "../../util/besteffort.js";
import type { Digest } from "../../util/digest.js";
import { EngineError, internal, invalid, isEngineError, messageOf, notFound } from "../../util/errors.js";

import { type ImageConfig, type ImageRunConfig, type BuildStore, chainIds, fullRunConfig, hostArchitecture, packDirectory } from "../../image/index.js";
import { DEFAULT_PATH_ENV, parseSignal } from "../../runtime/index.js";
import {
  type AddCommand,
  type ArgCommand,
  type Command,
  type CommandLine,
  type CopyCommand,
  type Dockerfile,
  DockerfileError,
  IgnoreMatcher,
  type RunCommand,
  type Stage,
  chompHeredocContent,
  envFromList,
  expandCommand,
  expandExposePorts,
  labelCommand,
  makeExpander,
  parseCommandLine,
  parseHeredoc,
  ShellLex,
} from "../dockerfile/index.js";
import { BuildArgs } from "./buildargs.js";
import { type BuildOutput, type BuildRequest, type BuilderOptions, BuildStepError } from "./buildtypes.js";
import { BuildCache, cacheKey } from "./cache.js";
import { BuildContext } from "./context.js";
import { type Owner, mkdirAllInRoot } from "./fsops.js";
import { type SourceInfo, ROOT, copyInfo, hostOwner, normalizeDest, parseChown, sourceInfos } from "./copysources.js";
import { goHealthcheck, goQuoteSlice, goSlice } from "./gofmt.js";
import { RunExecutor } from "./run.js";

/** What a build needs of the Builder that runs it. */
export interface JobHost {
  readonly o: BuilderOptions;
  readonly cache: BuildCache;
  readonly runner: RunExecutor;
  lookup(key: string): Promise<{ id: Digest; config: ImageConfig } | undefined>;
}

const DEFAULT_SHELL = ["/bin/sh", "-c"];
const SCRATCH = "scratch";

export function short(id: Digest | null): string {
  return id === null ? "" : id.slice(7, 19);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** The image config without empty fields (what Docker serializes with omitempty). */
function tidy(rc: ImageRunConfig): ImageRunConfig {
  const out: ImageRunConfig = {};
  if (rc.User) out.User = rc.User;
  if (rc.ExposedPorts && Object.keys(rc.ExposedPorts).length > 0) out.ExposedPorts = rc.ExposedPorts;
  if (rc.Env && rc.Env.length > 0) out.Env = rc.Env;
  if (rc.Entrypoint) out.Entrypoint = rc.Entrypoint;
  if (rc.Cmd) out.Cmd = rc.Cmd;
  if (rc.Healthcheck) {
    const h = rc.Healthcheck;
    out.Healthcheck = {
      ...(h.Test ? { Test: h.Test } : {}),
      ...(h.Interval ? { Interval: h.Interval } : {}),
      ...(h.Timeout ? { Timeout: h.Timeout } : {}),
      ...(h.StartPeriod ? { StartPeriod: h.StartPeriod } : {}),
      ...(h.StartInterval ? { StartInterval: h.StartInterval } : {}),
      ...(h.Retries ? { Retries: h.Retries } : {}),
    };
  }
  if (rc.ArgsEscaped) out.ArgsEscaped = true;
  if (rc.Volumes && Object.keys(rc.Volumes).length > 0) out.Volumes = rc.Volumes;
  if (rc.WorkingDir) out.WorkingDir = rc.WorkingDir;
  if (rc.OnBuild && rc.OnBuild.length > 0) out.OnBuild = rc.OnBuild;
  if (rc.Labels && Object.keys(rc.Labels).length > 0) out.Labels = rc.Labels;
  if (rc.StopSignal) out.StopSignal = rc.StopSignal;
  if (rc.Shell && rc.Shell.length > 0) out.Shell = rc.Shell;
  return out;
}

interface StageState {
  name: string;
  /** The current image (null: FROM scratch, nothing committed yet). */
  imageId: Digest | null;
  /** Its config (layers, history, platform). */
  base: ImageConfig;
  runConfig: ImageRunConfig;
  args: BuildArgs;
  cmdSet: boolean;
  maintainer?: string;
  /** A cache miss happened in this stage: later steps are not looked up. */
  busted: boolean;
}

interface StageResult {
  imageId: Digest | null;
  config: ImageConfig;
}

function scratchConfig(): ImageConfig {
  return { architecture: hostArchitecture(), os: "linux", rootfs: { type: "layers", diff_ids: [] }, history: [] };
}

function platformArgs(): Record<string, string> {
  const arch = hostArchitecture();
  return {
    BUILDPLATFORM: `linux/${arch}`,
    BUILDOS: "linux",
    BUILDARCH: arch,
    BUILDVARIANT: "",
    TARGETPLATFORM: `linux/${arch}`,
    TARGETOS: "linux",
    TARGETARCH: arch,
    TARGETVARIANT: "",
  };
}

/** One build: the state of its stages and its step counter. */
export class Job {
  private readonly store: BuildStore;
  private readonly rootArgs: BuildArgs;
  private readonly results = new Map<number, StageResult>();
  private readonly stageIndex = new Map<string, number>();
  private step = 0;
  private total = 0;
  private readonly escape: string;

  constructor(
    private readonly b: JobHost,
    private readonly ctx: BuildContext,
    private readonly df: Dockerfile,
    private readonly req: BuildRequest,
    private readonly out: BuildOutput,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.store = b.o.store;
    this.rootArgs = new BuildArgs(req.buildArgs);
    for (const [k, v] of Object.entries(platformArgs())) this.rootArgs.predefine(k, v);
    this.escape = df.escapeToken;
  }

  async run(): Promise<Digest> {
    const df = this.df;
    const stages = df.stages;
    let targetIx = stages.length - 1;
    if (this.req.target !== "") {
      const t = this.req.target.toLowerCase();
      targetIx = stages.findIndex((s) => s.name === t);
      if (targetIx < 0) throw invalid(`target stage "${this.req.target}" could not be found`);
    }
    stages.forEach((s, i) => {
      if (s.name === "") return;
      if (this.stageIndex.has(s.name)) throw new DockerfileError(`${s.name} stage name already used`, s.loc);
      this.stageIndex.set(s.name, i);
    });
    const target = stages[targetIx] as Stage;
    for (const k of Object.keys(this.req.labels).sort()) target.commands.push(labelCommand(k, this.req.labels[k] as string, target.loc));
    const needed = this.neededStages(targetIx);

    this.total = df.metaArgs.length + [...needed].reduce((n, i) => n + 1 + (stages[i] as Stage).commands.length, 0);
    for (const w of df.warnings) this.out.stderr(`[WARNING]: ${w}\n`);
    if (df.warnings.length > 0) this.out.stderr("[WARNING]: Empty continuation lines will become errors in a future release.\n");

    for (const meta of df.metaArgs) {
      this.printStep(meta.code);
      const env = envFromList([...this.rootArgs.allAllowed()].map(([k, v]) => `${k}=${v}`));
      const c = expandCommand(meta, makeExpander(env, this.escape));
      for (const a of c.args) {
        this.rootArgs.addArg(a.key, a.value);
        this.rootArgs.addMetaArg(a.key, a.value);
      }
    }

    let last: StageResult | undefined;
    for (let i = 0; i <= targetIx; i++) {
      if (!needed.has(i)) continue;
      last = await this.runStage(i, stages[i] as Stage);
      this.results.set(i, last);
    }
    const unused = this.rootArgs.unused();
    if (unused.length > 0) this.out.stdout(`[Warning] One or more build-args ${goSlice(unused)} were not consumed\n`);
    if (!last || last.imageId === null) throw invalid("No image was generated. Is your Dockerfile empty?");
    return last.imageId;
  }

  /** The stages the target depends on (FROM <stage>, COPY --from=<stage>), transitively. */
  private neededStages(targetIx: number): Set<number> {
    const stages = this.df.stages;
    const meta = new BuildArgs(this.req.buildArgs);
    for (const [k, v] of Object.entries(platformArgs())) meta.predefine(k, v);
    for (const m of this.df.metaArgs) for (const a of m.args) meta.addMetaArg(a.key, a.value);
    const expand = (s: string): string => {
      try {
        return new ShellLex(this.escape).processWord(s, envFromList([...meta.allMeta()].map(([k, v]) => `${k}=${v}`)));
      } catch {
        return s;
      }
    };
    const ref = (name: string, before: number): number | undefined => {
      const n = expand(name).toLowerCase();
      const byName = this.stageIndex.get(n);
      if (byName !== undefined && byName < before) return byName;
      if (/^\d+$/.test(n) && Number(n) < before) return Number(n);
      return undefined;
    };
    const needed = new Set<number>();
    const visit = (i: number): void => {
      if (needed.has(i)) return;
      needed.add(i);
      const s = stages[i] as Stage;
      const base = ref(s.baseName, i);
      if (base !== undefined) visit(base);
      for (const c of s.commands) {
        if (c.kind === "copy" && c.from !== "") {
          const d = ref(c.from, i);
          if (d !== undefined) visit(d);
        }
      }
    };
    visit(targetIx);
    return needed;
  }

  private printStep(code: string): void {
    this.step++;
    this.out.stdout(`Step ${this.step}/${this.total} : ${code}\n`);
  }

  private checkAborted(): void {
    if (this.signal?.aborted) {
      this.out.stdout("Build cancelled\n");
      throw invalid("Build cancelled");
    }
  }

  // --- stages -------------------------------------------------------------------

  private async runStage(index: number, stage: Stage): Promise<StageResult> {
    this.printStep(stage.code);
    const args = this.rootArgs.clone();
    args.resetAllowed();
    const st = await this.initializeStage(stage, args);
    this.out.stdout(` ---> ${short(st.imageId)}\n`);
    if (st.runConfig.OnBuild && st.runConfig.OnBuild.length > 0) {
      const triggers = st.runConfig.OnBuild;
      st.runConfig.OnBuild = null;
      this.out.stdout(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? "s" : ""}\n`);
      for (const t of triggers) {
        let cmd: Command;
        try {
          cmd = parseCommandLine(t, "ONBUILD");
        } catch (e) {
          throw invalid(`failed to parse ONBUILD trigger ${JSON.stringify(t)}: ${messageOf(e)}`);
        }
        await this.dispatch(st, cmd, index);
      }
    }
    for (const cmd of stage.commands) {
      this.checkAborted();
      this.printStep(cmd.code);
      await this.dispatch(st, cmd, index);
      this.out.stdout(` ---> ${short(st.imageId)}\n`);
    }
    if (st.imageId !== null) this.out.aux({ ID: st.imageId });
    this.rootArgs.mergeReferenced(st.args);
    return { imageId: st.imageId, config: st.base };
  }

  private async initializeStage(stage: Stage, args: BuildArgs): Promise<StageState> {
    const metaEnv = envFromList([...this.rootArgs.allMeta()].map(([k, v]) => `${k}=${v}`));
    const lex = new ShellLex(this.escape);
    const word = (w: string): string => {
      try {
        return lex.processWord(w, metaEnv);
      } catch (e) {
        throw new DockerfileError(messageOf(e), stage.loc);
      }
    };
    if (stage.platform !== "") {
      const p = word(stage.platform);
      if (!/^[a-z0-9_-]+(\/[a-z0-9_-]+){0,2}$/i.test(p)) throw new DockerfileError(`failed to parse platform ${p}: expected os[/arch[/variant]]`, stage.loc);
    }
    const name = word(stage.baseName);
    if (name === "") throw new DockerfileError(`base name (${stage.baseName}) should not be blank`, stage.loc);
    let imageId: Digest | null = null;
    let base: ImageConfig;
    const stageIx = this.stageIndex.get(name.toLowerCase());
    const prior = stageIx !== undefined ? this.results.get(stageIx) : undefined;
    if (prior) {
      imageId = prior.imageId;
      base = prior.config;
    } else if (name === SCRATCH) {
      base = scratchConfig();
    } else {
      imageId = await this.resolveImage(name);
      base = await this.store.config(imageId);
    }
    const runConfig: ImageRunConfig = clone(base.config ?? {});
    const env = runConfig.Env ?? [];
    if (!env.some((e) => e.startsWith("PATH="))) runConfig.Env = [...env, DEFAULT_PATH_ENV];
    return { name: stage.name, imageId, base, runConfig, args, cmdSet: false, busted: false };
  }

  private async resolveImage(name: string): Promise<Digest> {
    let id: Digest | undefined;
    try {
      id = this.store.resolve(name);
    } catch (e) {
      throw invalid(messageOf(e));
    }
    if (id !== undefined && !this.req.pull) return id;
    if (this.b.o.pull) {
      try {
        return await this.b.o.pull(name, this.out, {
          ...(this.signal ? { signal: this.signal } : {}),
          ...(this.req.registryConfig ? { registryConfig: this.req.registryConfig } : {}),
        });
      } catch (e) {
        if (id !== undefined) return id;
        throw e;
      }
    }
    if (id !== undefined) return id;
    throw notFound(`pull access denied for ${name}: the image is not in berthd's store and builds do not pull (load, import or pull it first)`);
  }

  // --- dispatch -------------------------------------------------------------------------

  private shell(rc: ImageRunConfig): string[] {
    return rc.Shell && rc.Shell.length > 0 ? [...rc.Shell] : [...DEFAULT_SHELL];
  }

  private envFor(st: StageState): string[] {
    const env = st.runConfig.Env ?? [];
    return [...env, ...st.args.filterAllowed(env)];
  }

  private async dispatch(st: StageState, raw: Command, stageIx: number): Promise<void> {
    const env = envFromList(this.envFor(st));
    const cmd = expandCommand(raw, makeExpander(env, this.escape));
    const rc = st.runConfig;
    switch (cmd.kind) {
      case "env": {
        const parts: string[] = [];
        const list = [...(rc.Env ?? [])];
        for (const e of cmd.env) {
          const v = `${e.key}=${e.value}`;
          parts.push(v);
          const i = list.findIndex((x) => (x.includes("=") ? x.slice(0, x.indexOf("=")) : x) === e.key);
          if (i >= 0) list[i] = v;
          else list.push(v);
        }
        rc.Env = list;
        return this.commitMeta(st, `ENV ${parts.join(" ")}`);
      }
      case "maintainer":
        st.maintainer = cmd.maintainer;
        return this.commitMeta(st, `MAINTAINER ${cmd.maintainer}`);
      case "label": {
        rc.Labels = { ...(rc.Labels ?? {}) };
        for (const l of cmd.labels) rc.Labels[l.key] = l.value;
        return this.commitMeta(st, `LABEL ${cmd.labels.map((l) => `${l.key}=${l.value}`).join(" ")}`);
      }
      case "add":
      case "copy":
        return this.copy(st, cmd, stageIx);
      case "onbuild":
        rc.OnBuild = [...(rc.OnBuild ?? []), cmd.expression];
        return this.commitMeta(st, `ONBUILD ${cmd.expression}`);
      case "workdir":
        return this.workdir(st, cmd.path);
      case "run":
        return this.runCmd(st, cmd);
      case "cmd": {
        const line = this.resolveCmdLine(cmd.cmd, rc);
        rc.Cmd = line;
        delete rc.ArgsEscaped;
        await this.commitMeta(st, `CMD ${goQuoteSlice(line)}`);
        if ((cmd.cmd.cmdLine ?? []).length !== 0) st.cmdSet = true;
        return;
      }
      case "entrypoint": {
        rc.Entrypoint = this.resolveCmdLine(cmd.cmd, rc);
        delete rc.ArgsEscaped;
        if (!st.cmdSet) rc.Cmd = null;
        return this.commitMeta(st, `ENTRYPOINT ${goQuoteSlice(rc.Entrypoint)}`);
      }
      case "healthcheck": {
        const old = rc.Healthcheck?.Test;
        if (old && old.length > 0 && old[0] !== "NONE") this.out.stdout(`Note: overriding previous HEALTHCHECK: ${goSlice(old)}\n`);
        rc.Healthcheck = cmd.health;
        return this.commitMeta(st, `HEALTHCHECK ${goHealthcheck(cmd.health)}`);
      }
      case "expose": {
        const ports = expandExposePorts(cmd, env, this.escape);
        rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) };
        for (const p of ports) for (const k of parsePortSpec(p, cmd.loc)) rc.ExposedPorts[k] = {};
        return this.commitMeta(st, `EXPOSE ${ports.join(" ")}`);
      }
      case "user":
        rc.User = cmd.user;
        return this.commitMeta(st, `USER ${cmd.user}`);
      case "volume":
        rc.Volumes = { ...(rc.Volumes ?? {}) };
        for (const v of cmd.volumes) {
          if (v === "") throw new DockerfileError("VOLUME specified can not be an empty string", cmd.loc);
          rc.Volumes[v] = {};
        }
        return this.commitMeta(st, `VOLUME ${goSlice(cmd.volumes)}`);
      case "stopsignal":
        try {
          parseSignal(cmd.signal);
        } catch (e) {
          throw new DockerfileError(messageOf(e), cmd.loc);
        }
        rc.StopSignal = cmd.signal;
        return this.commitMeta(st, `STOPSIGNAL ${cmd.signal}`);
      case "arg":
        return this.arg(st, cmd);
      case "shell":
        rc.Shell = cmd.shell;
        return this.commitMeta(st, `SHELL ${goSlice(cmd.shell)}`);
    }
  }

  private arg(st: StageState, c: ArgCommand): Promise<void> {
    const parts: string[] = [];
    for (const a of c.args) {
      parts.push(a.value !== undefined ? `${a.key}=${a.value}` : a.key);
      st.args.addArg(a.key, a.value);
    }
    return this.commitMeta(st, `ARG ${parts.join(" ")}`);
  }

  private resolveCmdLine(c: CommandLine, rc: ImageRunConfig): string[] | null {
    if (c.cmdLine === null) return null;
    return c.prependShell ? [...this.shell(rc), ...c.cmdLine] : [...c.cmdLine];
  }

  // --- commits and the cache -------------------------------------------------------------

  /** Look a step up in the cache; on a hit the state moves to the cached image. */
  private async probe(st: StageState, containerConfig: ImageRunConfig): Promise<{ hit: boolean; key: string }> {
    const key = cacheKey(st.imageId, { v: 1, ...containerConfig });
    if (this.req.noCache || st.busted) return { hit: false, key };
    const found = await this.b.lookup(key);
    if (!found) {
      st.busted = true;
      return { hit: false, key };
    }
    this.out.stdout(" ---> Using cache\n");
    st.imageId = found.id;
    st.base = found.config;
    return { hit: true, key };
  }

  private withComment(st: StageState, comment: string, single = false): ImageRunConfig {
    const cc = clone(st.runConfig);
    cc.Cmd = single ? [...this.shell(st.runConfig), `#(nop) ${comment}`] : [...this.shell(st.runConfig), "#(nop) ", comment];
    return cc;
  }

  /** A step without a process still has a container id (dockerd creates one): its image names it. */
  private fakeContainer(): { id: string; done: () => void } {
    const id = randomBytes(32).toString("hex");
    this.out.stdout(` ---> Running in ${id.slice(0, 12)}\n`);
    return {
      id,
      done: () => {
        if (this.req.rm || this.req.forceRm) this.out.stdout(` ---> Removed intermediate container ${id.slice(0, 12)}\n`);
      },
    };
  }

  /** A metadata-only step: no layer. */
  private async commitMeta(st: StageState, comment: string): Promise<void> {
    const cc = this.withComment(st, comment);
    const { hit, key } = await this.probe(st, cc);
    if (hit) return;
    const ctr = this.fakeContainer();
    await this.commit(st, cc, key, null, ctr.id);
    ctr.done();
  }

  /**
   * Record the step's image: the changes (a snapshot's upper dir, or none) become
   * a layer, the image record and the cache entry are written, all under one
   * store lease so garbage collection cannot take the new layer in between.
   */
  private async commit(st: StageState, cc: ImageRunConfig, key: string, upper: string | null, containerId = randomBytes(32).toString("hex")): Promise<void> {
    const store = this.store;
    const now = new Date().toISOString();
    const base = st.base;
    const parentTop = chainIds(base.rootfs.diff_ids).at(-1) ?? null;
    await store.gcLock.withShared(async () => {
      let diffId: Digest | undefined;
      let top = parentTop;
      if (upper !== null) {
        const idMap = store.idMap;
        const info = await store.layers.register(packDirectory(upper, { ociWhiteouts: true, ...(idMap ? { idMap } : {}) }), parentTop, this.signal);
        diffId = info.diffId;
        top = info.chainId;
      }
      const config: ImageConfig = {
        architecture: base.architecture,
        ...(base.variant ? { variant: base.variant } : {}),
        os: base.os,
        created: now,
        ...(st.maintainer ? { author: st.maintainer } : {}),
        // dockerd's legacy fields: the step's container, its config (the "#(nop)" command), both naming the parent image.
        config: fullRunConfig({ ...tidy(clone(st.runConfig)), Image: st.imageId ?? "" }),
        container: containerId,
        container_config: fullRunConfig({ ...cc, Hostname: containerId.slice(0, 12), Image: st.imageId ?? "" }),
        ...(this.b.o.daemonVersion ? { docker_version: this.b.o.daemonVersion } : {}),
        rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, ...(diffId ? [diffId] : [])] },
        history: [
          ...(base.history ?? []),
          {
            created: now,
            created_by: (cc.Cmd ?? []).join(" "),
            ...(st.maintainer ? { author: st.maintainer } : {}),
            ...(diffId ? {} : { empty_layer: true }),
          },
        ],
      };
      const id = await store.addImage(config, st.imageId ? { parent: st.imageId } : {});
      await this.b.cache.put(key, { image: id, config, top, created: now, lastUsed: now });
      st.imageId = id;
      st.base = config;
    });
  }

  /** Run fn on a mounted writable snapshot of the current image and commit what it changed. */
  private async withSnapshot(st: StageState, cc: ImageRunConfig, key: string, fn: (root: string) => Promise<void>, containerId?: string): Promise<void> {
    const layers = this.store.snapshots;
    const snap = `${RunExecutor.PREFIX}${randomBytes(32).toString("hex")}`;
    const parentTop = chainIds(st.base.rootfs.diff_ids).at(-1) ?? null;
    try {
      await layers.prepare(snap, parentTop);
      const root = await layers.mount(snap);
      await fn(root);
      await layers.unmount(snap);
      const upper = path.join(layers.snapshotDir(snap), "upper");
      await this.commit(st, cc, key, fss.readdirSync(upper).length === 0 ? null : upper, containerId);
    } finally {
      await layers.removeSnapshot(snap).catch(bestEffort(`removing build snapshot ${snap}`));
    }
  }

  // --- WORKDIR ----------------------------------------------------------------------

  private async workdir(st: StageState, p: string): Promise<void> {
    const rc = st.runConfig;
    if (p === "") throw invalid("cannot normalize nothing");
    rc.WorkingDir = p.startsWith("/") ? path.posix.normalize(p).replace(/(.)\/$/, "$1") : path.posix.join("/", rc.WorkingDir ?? "", p).replace(/(.)\/$/, "$1");
    const cc = this.withComment(st, `WORKDIR ${rc.WorkingDir}`, true);
    const { hit, key } = await this.probe(st, cc);
    if (hit) return;
    const ctr = this.fakeContainer();
    const dir = rc.WorkingDir;
    await this.withSnapshot(
      st,
      cc,
      key,
      async (root) => {
        mkdirAllInRoot(root, dir, hostOwner(this.store.idMap, ROOT));
      },
      ctr.id,
    );
    ctr.done();
  }

  // --- RUN ------------------------------------------------------------------------

  private async runCmd(st: StageState, c: RunCommand): Promise<void> {
    for (const f of c.flagsUsed) {
      if (f !== "network") throw invalid(`the --${f} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`);
    }
    let network = networkOf(this.req.networkMode);
    if (c.flagsUsed.includes("network")) {
      if (!["default", "none", "host"].includes(c.network)) throw new DockerfileError(`unsupported network mode ${JSON.stringify(c.network)}: expected default, none or host`, c.loc);
      network = c.network;
    }
    const rc = st.runConfig;
    const { args, pipes } = heredocArgs(c);
    const cmdFromArgs = c.cmd.prependShell ? [...this.shell(rc), ...args] : args;
    const buildArgs = st.args.filterAllowed(rc.Env ?? []);
    let saveCmd = cmdFromArgs;
    if (buildArgs.length > 0) {
      const kept = buildArgs.filter((e) => st.args.isReferencedOrNotBuiltin(e.slice(0, e.indexOf("=")))).sort();
      saveCmd = [`|${kept.length}`, ...kept, ...cmdFromArgs];
    }
    const cc = clone(rc);
    cc.Cmd = saveCmd;
    delete cc.ArgsEscaped;
    if (saveCmd.length > 0) cc.Entrypoint = null;
    const { hit, key } = await this.probe(st, cc);
    if (hit) return;

    const stdout = new StringDecoder("utf8");
    const stderr = new StringDecoder("utf8");
    let containerId = "";
    let fullId: string | undefined;
    const res = await this.b.runner.run({
      parent: chainIds(st.base.rootfs.diff_ids).at(-1) ?? null,
      args: cmdFromArgs,
      env: [...(rc.Env ?? []), ...buildArgs],
      workdir: rc.WorkingDir ?? "",
      user: rc.User ?? "",
      network,
      ...(this.req.shmSize ? { shmSize: this.req.shmSize } : {}),
      ...(pipes ? { pipes } : {}),
      stdout: (b) => {
        const s = stdout.write(b);
        if (s !== "") this.out.stdout(s);
      },
      stderr: (b) => {
        const s = stderr.write(b);
        if (s !== "") this.out.stderr(s);
      },
      backpressure: () => this.out.backpressure?.(),
      onCreate: (id) => {
        fullId = id;
        containerId = id.slice(0, 12);
        this.out.stdout(` ---> Running in ${containerId}\n`);
      },
      commit: (upper) => this.commit(st, cc, key, upper, fullId),
      ...(this.signal ? { signal: this.signal } : {}),
    });
    const restOut = stdout.end();
    if (restOut) this.out.stdout(restOut);
    const restErr = stderr.end();
    if (restErr) this.out.stderr(restErr);
    if (res.exitCode !== 0) {
      if (this.req.forceRm) this.out.stdout(` ---> Removed intermediate container ${containerId}\n`);
      throw new BuildStepError(`The command '${cmdFromArgs.join(" ")}' returned a non-zero code: ${res.exitCode}`, res.exitCode);
    }
    if (this.req.rm || this.req.forceRm) this.out.stdout(` ---> Removed intermediate container ${containerId}\n`);
  }

  // --- COPY / ADD --------------------------------------------------------------------

  private async copy(st: StageState, c: AddCommand | CopyCommand, stageIx: number): Promise<void> {
    const name = c.kind === "add" ? "ADD" : "COPY";
    if (c.kind === "add" && c.checksum !== "") throw invalid(`${name} failed: checksum requires HTTP(S) or Git sources`);
    let chmod: number | undefined;
    if (c.chmod !== "") {
      if (!/^[0-7]{1,5}$/.test(c.chmod) || parseInt(c.chmod, 8) > 0o7777) {
        throw new DockerfileError(`invalid chmod parameter: '${c.chmod}'. it should be octal string and between 0 and 07777`, c.loc);
      }
      chmod = parseInt(c.chmod, 8);
    }
    const work = path.join(this.b.o.root, "tmp", `copy-${randomBytes(8).toString("hex")}`);
    let release: (() => Promise<void>) | undefined;
    try {
      let srcRoot = this.ctx.root;
      let fromImage = false;
      if (c.kind === "copy" && c.from !== "") {
        const m = await this.mountFrom(c.from, stageIx);
        srcRoot = m.root;
        release = m.release;
        fromImage = true;
      }
      const exclude = c.exclude.length > 0 ? new IgnoreMatcher(c.exclude) : undefined;
      const skip = exclude ? (rel: string) => exclude.excluded(rel) : undefined;
      const infos = await sourceInfos(this.envFor(st), this.b.o.download, c, name, srcRoot, fromImage, work, skip);
      if (infos.length > 1 && !c.sd.dest.endsWith("/")) {
        throw invalid(`When using ${name} with more than one source file, the destination must be a directory and end with a /`);
      }
      const srcHash = infos.length === 1 ? (infos[0] as SourceInfo).hash : `multi:${createHash("sha256").update(infos.map((i) => i.hash).join(",")).digest("hex")}`;
      const flags = `${c.chown ? `--chown=${c.chown} ` : ""}${c.chmod ? `--chmod=${c.chmod} ` : ""}${c.kind === "copy" && c.parents ? "--parents " : ""}`;
      const cc = this.withComment(st, `${name} ${flags}${srcHash} in ${c.sd.dest} `, true);
      const { hit, key } = await this.probe(st, cc);
      if (hit) return;

      const dest = normalizeDest(st.runConfig.WorkingDir ?? "", c.sd.dest);
      await this.withSnapshot(st, cc, key, async (root) => {
        let owner: Owner | undefined = fromImage ? undefined : ROOT;
        if (c.chown !== "") owner = await parseChown(root, c.chown);
        const idMap = this.store.idMap;
        const o = { owner: owner && hostOwner(idMap, owner), dirOwner: hostOwner(idMap, owner ?? ROOT), idMap, mode: chmod, skip, decompress: c.kind === "add" && (c.unpack ?? true) };
        for (const info of infos) {
          const d = info.parentDirs ? `${dest.replace(/\/+$/, "")}/${info.parentDirs}/` : dest;
          await copyInfo(root, d, info, o);
        }
      });
    } catch (e) {
      if (e instanceof DockerfileError || e instanceof BuildStepError) throw e;
      if (isEngineError(e)) throw new EngineError(e.kind, `${name} failed: ${e.message}`);
      throw internal(`${name} failed: ${messageOf(e)}`, e);
    } finally {
      await release?.().catch(bestEffort("releasing the COPY --from snapshot"));
      await fs.rm(work, { recursive: true, force: true }).catch(bestEffort(`removing ${work}`));
    }
  }

  /** COPY --from: a stage of this build (by name or index) or an image, mounted read-only for the copy. */
  private async mountFrom(from: string, stageIx: number): Promise<{ root: string; release: () => Promise<void> }> {
    let imageId: Digest | null;
    const lower = from.toLowerCase();
    const byName = this.stageIndex.get(lower);
    if (byName !== undefined && byName < stageIx) {
      const r = this.results.get(byName);
      if (!r) throw invalid(`invalid from flag value ${from}: stage ${from} was not built`);
      imageId = r.imageId;
    } else if (/^\d+$/.test(from)) {
      const ix = Number(from);
      if (ix === stageIx) throw invalid(`invalid from flag value ${from}: refers to current build stage`);
      if (ix > stageIx || !this.results.has(ix)) throw invalid(`invalid from flag value ${from}: index out of bounds`);
      imageId = (this.results.get(ix) as StageResult).imageId;
    } else {
      try {
        imageId = await this.resolveImage(from);
      } catch (e) {
        throw invalid(`invalid from flag value ${from}: ${messageOf(e)}`);
      }
    }
    const layers = this.store.snapshots;
    const snap = `${RunExecutor.PREFIX}${randomBytes(32).toString("hex")}`;
    const top = imageId === null ? null : await this.store.topLayer(imageId);
    await layers.prepare(snap, top);
    try {
      const root = await layers.mount(snap);
      return { root, release: () => layers.removeSnapshot(snap) };
    } catch (e) {
      await layers.removeSnapshot(snap).catch(bestEffort(`removing build snapshot ${snap}`));
      throw e;
    }
  }
}

/** docker build --network: "host", "none", or the network RUN steps attach to ("default": the default bridge). */
function networkOf(mode: string): string {
  if (mode.startsWith("container:")) throw invalid(`network mode ${JSON.stringify(mode)} is not supported for builds`);
  return mode === "" || mode === "bridge" ? "default" : mode;
}

/** RUN heredocs, as BuildKit runs them: `RUN <<EOF` runs the document with the shell (or as a script with its #! line). */
function heredocArgs(c: RunCommand): { args: string[]; pipes?: { name: string; data: string }[] } {
  const args = c.cmd.cmdLine ?? [];
  const files = c.cmd.files;
  if (files.length === 0) return { args };
  if (args.length !== 1 || !c.cmd.prependShell) throw invalid(`parsing produced an invalid run command: ${goSlice(args)}`);
  const first = files[0] as (typeof files)[number];
  if (parseHeredoc(args[0] as string)) {
    const data = first.chomp ? chompHeredocContent(first.data) : first.data;
    if (data.startsWith("#!")) {
      const name = path.posix.basename(first.name) || "script";
      return { args: [`/dev/pipes/${name}`], pipes: [{ name, data }] };
    }
    return { args: [data] };
  }
  let full = args[0] as string;
  for (const f of files) full += `\n${f.data}${f.name}`;
  return { args: [full] };
}

/** EXPOSE port specs: 80, 80/udp, 8000-8002/tcp, [ip:[hostport:]]port[/proto]. */
function parsePortSpec(raw: string, loc: Stage["loc"]): string[] {
  const parts = raw.split(":");
  const containerPort = parts[parts.length - 1] as string;
  const slash = containerPort.indexOf("/");
  const port = slash < 0 ? containerPort : containerPort.slice(0, slash);
  const proto = (slash < 0 ? "tcp" : containerPort.slice(slash + 1) || "tcp").toLowerCase();
  if (port === "") throw new DockerfileError(`no port specified: ${raw}<empty>`, loc);
  if (!["tcp", "udp", "sctp"].includes(proto)) throw new DockerfileError(`invalid proto: ${proto}`, loc);
  const m = /^(\d+)(?:-(\d+))?$/.exec(port);
  if (!m) throw new DockerfileError(`invalid containerPort: ${port}`, loc);
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start < 0 || end > 65535 || end < start) throw new DockerfileError(`invalid containerPort: ${port}`, loc);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

