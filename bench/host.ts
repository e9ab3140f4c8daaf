/**
 * Host preparation: Debian packages (docker.io, busybox-static), the busybox
 * rootfs tarball, and the private bridge for dockerd.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, constants as fsc, promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { errMsg, exec, execOk } from "./lib.js";

export type Log = (msg: string) => void;

const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable on PATH or in the usual sbin/bin directories. */
export async function which(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((d) => d.length > 0), ...SEARCH_DIRS];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

/** The docker CLI to use: always /usr/local/bin/docker when present (never the one docker.io installs). */
export async function dockerClient(): Promise<string> {
  if (await isExecutable("/usr/local/bin/docker")) return "/usr/local/bin/docker";
  return (await which("docker")) ?? "docker";
}

async function sha256File(p: string): Promise<string> {
  return createHash("sha256").update(await fs.readFile(p)).digest("hex");
}

/** apt-get, with `update` run at most once per process. */
export class Apt {
  private updated = false;
  constructor(private readonly log: Log) {}

  async install(pkgs: readonly string[], timeoutMs: number): Promise<void> {
    const env = {
      ...process.env,
      DEBIAN_FRONTEND: "noninteractive",
      NEEDRESTART_SUSPEND: "1",
      NEEDRESTART_MODE: "l",
    };
    if (!this.updated) {
      this.log("apt-get update");
      await execOk("apt-get", ["update"], { timeoutMs: Math.min(timeoutMs, 300_000), env });
      this.updated = true;
    }
    this.log(`apt-get install -y ${pkgs.join(" ")}`);
    await execOk(
      "apt-get",
      ["install", "-y", "-o", "Dpkg::Options::=--force-confold", ...pkgs],
      { timeoutMs, env },
    );
  }
}

/**
 * Make sure `dockerd` exists, installing Debian's docker.io if not. While
 * installing: services are kept from starting (a temporary policy-rc.d if the
 * host has none), and /usr/local/bin/docker is verified (and restored if
 * needed) so the package can never replace the real CLI.
 */
export async function ensureDockerd(apt: Apt, log: Log, scratch: string, timeoutMs: number): Promise<string> {
  const found = await which("dockerd");
  if (found) return found;
  log("dockerd not found: installing Debian's docker.io (brings containerd and runc)");

  const cli = "/usr/local/bin/docker";
  let cliBackup: { file: string; hash: string; mode: number } | undefined;
  if (await isExecutable(cli)) {
    const file = path.join(scratch, "docker-cli.backup");
    await fs.copyFile(cli, file);
    cliBackup = { file, hash: await sha256File(cli), mode: (await fs.stat(cli)).mode & 0o7777 };
  }
  const policy = "/usr/sbin/policy-rc.d";
  let ownPolicy = false;
  try {
    await fs.access(policy);
  } catch {
    await fs.writeFile(policy, "#!/bin/sh\n# temporary, written by berth bench while installing docker.io\nexit 101\n", {
      mode: 0o755,
    });
    ownPolicy = true;
  }
  try {
    // docker.io depends on containerd + runc (+ iptables); recommends pull apparmor, needrestart, ...
    await apt.install(["docker.io"], timeoutMs);
  } finally {
    if (ownPolicy) await fs.rm(policy, { force: true });
    if (cliBackup) {
      let same = false;
      try {
        same = (await sha256File(cli)) === cliBackup.hash;
      } catch {
        same = false;
      }
      if (!same) {
        log(`WARNING: ${cli} changed during the install; restoring it`);
        await fs.copyFile(cliBackup.file, cli);
        await fs.chmod(cli, cliBackup.mode);
      }
      await fs.rm(cliBackup.file, { force: true });
    }
  }
  const installed = await which("dockerd");
  if (!installed) throw new Error("docker.io installed but dockerd is still not found");
  return installed;
}

/** True if the ELF file has no PT_INTERP program header (i.e. is statically linked). */
export async function isStaticElf(p: string): Promise<boolean> {
  const fh = await fs.open(p, "r");
  try {
    const hdr = Buffer.alloc(64);
    await fh.read(hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46) return false; // "\x7fELF"
    const is64 = hdr[4] === 2;
    const le = hdr[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? hdr.readBigUInt64LE(32) : hdr.readBigUInt64BE(32)) : u32(hdr, 28);
    const phentsize = u16(hdr, is64 ? 54 : 42);
    const phnum = Math.min(u16(hdr, is64 ? 56 : 44), 256);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (u32(ph, i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    await fh.close();
  }
}

/** Path of a statically linked busybox, installing busybox-static if needed. */
export async function ensureBusybox(apt: Apt, log: Log, timeoutMs: number): Promise<string> {
  const p = "/bin/busybox";
  const ok = async (): Promise<boolean> => (await isExecutable(p)) && (await isStaticElf(p));
  if (await ok()) return p;
  log(`${p} missing or not static: installing busybox-static`);
  await apt.install(["busybox-static"], timeoutMs);
  if (!(await ok())) throw new Error(`${p} is still not a static busybox after installing busybox-static`);
  return p;
}

type TarFn = (opts?: { busyboxPath?: string }) => Promise<Readable>;

/**
 * Write a busybox rootfs tarball to `outFile`. Uses the project's own
 * src/image/busybox.ts (dist/src/image/busybox.js) when it is built, otherwise
 * builds one with tar(1). Returns a short description of the method used.
 */
export async function makeRootfsTar(busyboxPath: string, outFile: string, workDir: string, log: Log): Promise<string> {
  const modFile = fileURLToPath(new URL("../src/image/busybox.js", import.meta.url));
  let projectError = "not built";
  try {
    if (!existsSync(modFile)) throw new Error("not built");
    const mod: unknown = await import(pathToFileURL(modFile).href);
    const fn = (mod as { busyboxRootfsTar?: unknown }).busyboxRootfsTar;
    if (typeof fn === "function") {
      const stream = await (fn as TarFn)({ busyboxPath });
      await pipeline(stream, createWriteStream(outFile));
      return "src/image/busybox.ts busyboxRootfsTar()";
    }
    projectError = "module has no busyboxRootfsTar export";
  } catch (e) {
    if (projectError === "not built") projectError = errMsg(e);
  }
  if (projectError !== "not built") log(`busyboxRootfsTar unusable (${projectError}); using the tar(1) fallback`);
  await fallbackRootfsTar(busyboxPath, outFile, workDir);
  return `tar(1) fallback (${projectError === "not built" ? "dist/src/image/busybox.js not built" : projectError})`;
}

async function fallbackRootfsTar(busyboxPath: string, outFile: string, workDir: string): Promise<void> {
  const root = path.join(workDir, "rootfs");
  await fs.rm(root, { recursive: true, force: true });
  for (const d of ["bin", "etc", "root", "tmp", "proc", "sys", "dev", "var", "usr/bin", "usr/sbin", "sbin"]) {
    await fs.mkdir(path.join(root, d), { recursive: true });
  }
  await fs.chmod(path.join(root, "tmp"), 0o1777);
  await fs.chmod(path.join(root, "root"), 0o700);
  await fs.copyFile(busyboxPath, path.join(root, "bin/busybox"));
  await fs.chmod(path.join(root, "bin/busybox"), 0o755);
  // Like `busybox --install -s`, but with relative links into bin/busybox.
  const list = await execOk(busyboxPath, ["--list-full"], { timeoutMs: 10_000 });
  for (const rel of list.stdout.split("\n").map((s) => s.trim())) {
    if (!rel || rel === "bin/busybox" || rel.includes("..")) continue;
    const link = path.join(root, rel);
    try {
      await fs.mkdir(path.dirname(link), { recursive: true });
      await fs.symlink(path.relative(path.dirname(link), path.join(root, "bin/busybox")), link);
    } catch {
      /* duplicate applet path */
    }
  }
  await fs.writeFile(
    path.join(root, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await fs.writeFile(path.join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  await execOk(
    "tar",
    ["-C", root, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", outFile, "."],
    { timeoutMs: 60_000 },
  );
  await fs.rm(root, { recursive: true, force: true });
}

// ---------------------------------------------------------------- bridge

export interface BridgeSpec {
  name: string;
  cidr: string; // e.g. 10.213.0.1/24
}

export async function createBridge(b: BridgeSpec, log: Log): Promise<void> {
  const existing = await exec("ip", ["link", "show", b.name], { timeoutMs: 5000 });
  if (existing.code === 0) {
    log(`bridge ${b.name} left over from an earlier run: deleting it`);
    await execOk("ip", ["link", "del", b.name], { timeoutMs: 10_000 });
  }
  const net = b.cidr.split(".").slice(0, 3).join(".");
  const routes = await exec("ip", ["-4", "route", "show"], { timeoutMs: 5000 });
  if (routes.stdout.split("\n").some((l) => l.startsWith(`${net}.`))) {
    throw new Error(`subnet of ${b.cidr} is already routed on this host; set BENCH_BRIDGE_CIDR to a free /24`);
  }
  await execOk("ip", ["link", "add", b.name, "type", "bridge"], { timeoutMs: 10_000 });
  await execOk("ip", ["addr", "add", b.cidr, "dev", b.name], { timeoutMs: 10_000 });
  await execOk("ip", ["link", "set", b.name, "up"], { timeoutMs: 10_000 });
}

export async function deleteBridge(name: string): Promise<void> {
  const r = await exec("ip", ["link", "show", name], { timeoutMs: 5000 });
  if (r.code === 0) await exec("ip", ["link", "del", name], { timeoutMs: 10_000 });
}

// ---------------------------------------------------------------- host state dockerd leaves behind

/**
 * Paths outside its roots that dockerd 20.10 / containerd create on first use
 * even with private roots: the shim socket dir, the plugin dir, the trust key
 * and the cgroupfs parent "docker" cgroups.
 */
async function hostPathCandidates(): Promise<string[]> {
  const paths = ["/run/containerd/s", "/run/containerd", "/run/docker/plugins", "/run/docker", "/etc/docker/key.json"];
  try {
    for (const c of await fs.readdir("/sys/fs/cgroup", { withFileTypes: true })) {
      if (c.isDirectory()) paths.push(path.join("/sys/fs/cgroup", c.name, "docker"));
    }
    paths.push("/sys/fs/cgroup/docker");
  } catch {
    /* no cgroupfs */
  }
  return paths;
}

export async function snapshotHostPaths(): Promise<Set<string>> {
  const existing = new Set<string>();
  for (const p of await hostPathCandidates()) if (existsSync(p)) existing.add(p);
  return existing;
}

/** Remove what did not exist before: files, and directories only if empty (rmdir). */
export async function removeNewHostPaths(before: ReadonlySet<string>, log: Log): Promise<void> {
  const paths = (await hostPathCandidates()).filter((p) => !before.has(p) && existsSync(p));
  for (const p of paths.sort((a, b) => b.length - a.length)) {
    try {
      const st = await fs.lstat(p);
      if (st.isDirectory()) await fs.rmdir(p);
      else await fs.rm(p);
    } catch (e) {
      log(`left ${p} in place: ${errMsg(e)}`);
    }
  }
}
