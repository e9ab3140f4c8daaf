/**
 * Docker's Linux mount parser: `-v` strings (HostConfig.Binds), `--mount` specs
 * (HostConfig.Mounts) and `--volumes-from` into mount points, with Docker's
 * validation and error wording (moby volume/mounts/linux_parser.go).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { invalid } from "../util/errors.js";

export type MountType = "bind" | "volume" | "tmpfs";

/** A HostConfig.Mounts entry as the API sends it (Docker's mount.Mount). */
export interface MountSpec {
  Type?: string | null;
  Source?: string | null;
  Target?: string | null;
  ReadOnly?: boolean | null;
  Consistency?: string | null;
  BindOptions?: {
    Propagation?: string | null;
    NonRecursive?: boolean | null;
    CreateMountpoint?: boolean | null;
    ReadOnlyNonRecursive?: boolean | null;
    ReadOnlyForceRecursive?: boolean | null;
  } | null;
  VolumeOptions?: {
    NoCopy?: boolean | null;
    Labels?: Record<string, string> | null;
    Subpath?: string | null;
    DriverConfig?: { Name?: string | null; Options?: Record<string, string> | null } | null;
  } | null;
  TmpfsOptions?: { SizeBytes?: number | null; Mode?: number | null; Options?: string[][] | null } | null;
}

/** A container's mount point, persisted in its record (Docker's MountPoint). */
export interface MountPoint {
  Type: MountType;
  /** Volume name; "" for a volume not yet created (anonymous until create names it). */
  Name: string;
  /** Host path: the bind source, or the volume's data directory once resolved; "" for tmpfs. */
  Source: string;
  Destination: string;
  /** Volume driver ("local"); "" for binds and tmpfs. */
  Driver: string;
  /** The mode the user wrote (`ro,z`...); "z" for local volumes given without one. */
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Copy the image's content at Destination into the volume on first use. */
  CopyData: boolean;
  /** The request that made this mount point; Spec.Source "" marks an anonymous volume. */
  Spec: MountSpec;
  /** `--mount type=bind` without CreateMountpoint: never create the host path. */
  SkipMountpointCreation?: boolean;
}

const RW_MODES = new Set(["rw", "ro"]);
const LABEL_MODES = new Set(["z", "Z"]);
export const PROPAGATION_MODES = new Set(["private", "rprivate", "slave", "rslave", "shared", "rshared"]);
const CONSISTENCY_MODES = new Set(["consistent", "cached", "delegated"]);
export const DEFAULT_PROPAGATION = "rprivate";

const errInvalidSpec = (spec: string) => `invalid volume specification: '${spec}'`;
const errInvalidMode = (mode: string) => invalid(`invalid mode: ${mode}`);

class MountConfigError extends Error {}

function mountConfigError(type: string, msg: string): Error {
  return new MountConfigError(`invalid mount config for type ${JSON.stringify(type)}: ${msg}`);
}

/** Docker's linuxValidMountMode: a comma list with at most one option of each kind. */
export function validMountMode(mode: string): boolean {
  if (mode === "") return true;
  const counts = { rw: 0, label: 0, prop: 0, copy: 0, consistency: 0 };
  for (const o of mode.split(",")) {
    if (RW_MODES.has(o)) counts.rw++;
    else if (LABEL_MODES.has(o)) counts.label++;
    else if (PROPAGATION_MODES.has(o)) counts.prop++;
    else if (o === "nocopy") counts.copy++;
    else if (CONSISTENCY_MODES.has(o)) counts.consistency++;
    else return false;
  }
  return Object.values(counts).every((n) => n <= 1);
}

/** False when mode says ro (or is invalid). */
export function readWrite(mode: string): boolean {
  if (!validMountMode(mode)) return false;
  return !mode.split(",").includes("ro");
}

function propagationOf(mode: string): string | undefined {
  return mode.split(",").find((o) => PROPAGATION_MODES.has(o));
}

function clean(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, "$1");
}

function validateNotRoot(p: string): void {
  if (clean(p.replaceAll("\\", "/")) === "/") throw new MountConfigError("invalid specification: destination can't be '/'");
}

function validateAbsolute(p: string): void {
  if (!p.replaceAll("\\", "/").startsWith("/")) throw new MountConfigError(`invalid mount path: '${p}' mount path must be absolute`);
}

/** The mount config checks of Docker's validateMountConfigImpl (errors are MountConfigError). */
function validateMountConfig(m: MountSpec, bindSourceMustExist: boolean, exists: (p: string) => boolean): void {
  const type = m.Type ?? "";
  const fail = (msg: string) => {
    throw mountConfigError(type, msg);
  };
  const target = m.Target ?? "";
  if (target === "") fail("field Target must not be empty");
  try {
    validateNotRoot(target);
    validateAbsolute(target);
  } catch (e) {
    fail((e as Error).message);
  }
  const source = m.Source ?? "";
  switch (type) {
    case "bind": {
      if (source === "") fail("field Source must not be empty");
      const prop = m.BindOptions?.Propagation ?? "";
      if (prop !== "" && !PROPAGATION_MODES.has(prop)) fail(`invalid propagation mode: ${prop}`);
      if (m.VolumeOptions) fail("field VolumeOptions must not be specified");
      if (!source.startsWith("/")) fail(`invalid mount path: '${source}' mount path must be absolute`);
      if (bindSourceMustExist && !exists(source) && !m.BindOptions?.CreateMountpoint) fail(`bind source path does not exist: ${source}`);
      break;
    }
    case "volume": {
      if (m.BindOptions) fail("field BindOptions must not be specified");
      const anonymous = source === "";
      const sub = m.VolumeOptions?.Subpath ?? "";
      if (sub !== "") {
        if (anonymous) fail("must not set Subpath when using anonymous volumes");
        if (!isLocalPath(sub)) fail("subpath must be a relative path within the volume");
      }
      if (m.ReadOnly && anonymous) fail("must not set ReadOnly mode when using anonymous volumes");
      break;
    }
    case "tmpfs":
      if (m.BindOptions) fail("field BindOptions must not be specified");
      if (source !== "") fail("field Source must not be specified");
      try {
        convertTmpfsOptions(m.TmpfsOptions, m.ReadOnly ?? false);
      } catch (e) {
        fail((e as Error).message);
      }
      break;
    default:
      fail("mount type unknown");
  }
}

/** Go's filepath.IsLocal: relative, not empty, never climbing above its start. */
function isLocalPath(p: string): boolean {
  if (p === "" || p.startsWith("/")) return false;
  const n = path.posix.normalize(p);
  return n !== ".." && !n.startsWith("../");
}

/** Docker's ConvertTmpfsOptions: `ro`, `mode=%o`, `size=` with the largest exact suffix, exec/noexec. */
export function convertTmpfsOptions(opt: MountSpec["TmpfsOptions"], readOnly: boolean): string {
  const raw: string[] = [];
  if (readOnly) raw.push("ro");
  if (opt?.Mode) raw.push(`mode=${opt.Mode.toString(8)}`);
  if (opt?.SizeBytes) {
    let size = opt.SizeBytes;
    let suffix = "";
    for (const [s, div] of [["g", 2 ** 30], ["m", 2 ** 20], ["k", 2 ** 10]] as const) {
      if (size % div === 0) {
        size = size / div;
        suffix = s;
        break;
      }
    }
    raw.push(`size=${size}${suffix}`);
  }
  for (const o of opt?.Options ?? []) {
    if (o.length < 1 || o.length > 2) throw new Error("invalid option array length");
    if (o[0] !== "exec" && o[0] !== "noexec") throw new Error(`invalid option: ${String(o[0])}`);
    raw.push(o.length === 1 ? o[0] : `${o[0]}=${String(o[1])}`);
  }
  return raw.join(",");
}

function specToMountPoint(cfg: MountSpec): MountPoint {
  const type = cfg.Type as MountType;
  const mp: MountPoint = {
    Type: type,
    Name: "",
    Source: "",
    Destination: clean((cfg.Target ?? "").replaceAll("\\", "/")),
    Driver: "",
    Mode: "",
    RW: !cfg.ReadOnly,
    Propagation: "",
    CopyData: false,
    Spec: cfg,
  };
  switch (type) {
    case "volume":
      mp.Name = cfg.Source ?? "";
      mp.CopyData = !cfg.VolumeOptions?.NoCopy;
      mp.Driver = cfg.VolumeOptions?.DriverConfig?.Name ?? "";
      break;
    case "bind":
      mp.Source = clean((cfg.Source ?? "").replaceAll("\\", "/"));
      mp.Propagation = cfg.BindOptions?.Propagation || DEFAULT_PROPAGATION;
      break;
    case "tmpfs":
      break;
  }
  return mp;
}

/** A `--mount` spec (HostConfig.Mounts entry); the bind source must exist unless CreateMountpoint. */
export function parseMountSpec(cfg: MountSpec, exists: (p: string) => boolean = existsSync): MountPoint {
  try {
    validateMountConfig(cfg, true, exists);
  } catch (e) {
    if (e instanceof MountConfigError) throw invalid(e.message);
    throw e;
  }
  return specToMountPoint(cfg);
}

/**
 * A `-v` string (HostConfig.Binds entry): `dest`, `source:dest` or `source:dest:mode`.
 * An absolute source is a bind, anything else a volume name.
 */
export function parseMountRaw(raw: string, volumeDriver = ""): MountPoint {
  const arr = splitN(raw, ":", 4);
  if (arr[0] === "") throw invalid(errInvalidSpec(raw));
  const spec: MountSpec = {};
  let mode = "";
  switch (arr.length) {
    case 1:
      spec.Target = arr[0] as string;
      break;
    case 2:
      // dest:mode is not a valid volume (e.g. /foo:rw)
      if (validMountMode(arr[1] as string)) throw invalid(errInvalidSpec(raw));
      spec.Source = arr[0] as string;
      spec.Target = arr[1] as string;
      break;
    case 3:
      spec.Source = arr[0] as string;
      spec.Target = arr[1] as string;
      mode = arr[2] as string;
      break;
    default:
      throw invalid(errInvalidSpec(raw));
  }
  if (!validMountMode(mode)) throw errInvalidMode(mode);
  spec.Type = (spec.Source ?? "").startsWith("/") ? "bind" : "volume";
  spec.ReadOnly = !readWrite(mode);
  if (volumeDriver !== "" && spec.Type === "volume") spec.VolumeOptions = { DriverConfig: { Name: volumeDriver } };
  if (mode.split(",").includes("nocopy")) spec.VolumeOptions = { ...(spec.VolumeOptions ?? {}), NoCopy: true };
  const prop = propagationOf(mode);
  if (prop) spec.BindOptions = { Propagation: prop };
  try {
    validateMountConfig(spec, false, () => true);
  } catch (e) {
    if (e instanceof MountConfigError) throw invalid(`${errInvalidSpec(raw)}: ${e.message}`);
    throw e;
  }
  const mp = specToMountPoint(spec);
  mp.Mode = mode;
  return mp;
}

/** `--volumes-from ctr[:ro|:rw]` → the container and the mode (propagation and copy modes refused). */
export function parseVolumesFrom(spec: string): { id: string; mode: string } {
  if (spec === "") throw invalid("volumes-from specification cannot be an empty string");
  const i = spec.indexOf(":");
  const id = i < 0 ? spec : spec.slice(0, i);
  const mode = i < 0 ? "" : spec.slice(i + 1);
  if (mode === "") return { id, mode: "rw" };
  if (!validMountMode(mode)) throw errInvalidMode(mode);
  if (propagationOf(mode) !== undefined || mode.split(",").includes("nocopy")) throw errInvalidMode(mode);
  return { id, mode };
}

/** Go's strings.SplitN. */
function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  out.push(rest);
  return out;
}

/** Docker's ordering of mounts: parents before children (fewer path components first). */
export function byDepth<T>(dest: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => clean(dest(a)).split("/").length - clean(dest(b)).split("/").length;
}

/** Local volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (they are directory names under the data root). */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function volumeNameError(name: string): string {
  if (name.length === 1) return "volume name is too short, names should be at least two alphanumeric characters";
  return `${JSON.stringify(name)} includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
}
