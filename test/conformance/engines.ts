/**
 * The two engines side by side: a private reference dockerd (its own roots,
 * socket, containerd and bridge bconf0, --iptables=false) and a private berthd,
 * both with the same fixture image (imported once into dockerd, then saved and
 * loaded into both, so the image id is the same). Reuses the benchmark's engine
 * classes (bench/engines.ts, bench/host.ts) and leaves the host as it found it.
 */
import { promises as fs, mkdtempSync } from "node:fs";
import path from "node:path";
import { Berthd, Dockerd, removeShimSockets, type Engine } from "../../bench/engines.js";
import { Apt, createBridge, deleteBridge, dockerClient, ensureBusybox, makeRootfsTar, removeNewHostPaths, snapshotHostPaths, which } from "../../bench/host.js";

/** The reference's bridge; CONF_BRIDGE / CONF_BRIDGE_CIDR choose another (for runs side by side). */
export const BRIDGE = { name: process.env.CONF_BRIDGE ?? "bconf0", cidr: process.env.CONF_BRIDGE_CIDR ?? "10.213.40.1/24" };
export const FIXTURE = "busybox:latest";
export const API = "v1.41";

export interface Pair {
  dir: string;
  ref: Dockerd;
  berth: Berthd;
  imageId: string;
  /** The docker CLI and its environment (no host config, context or TLS). */
  cli: { cli: string; env: NodeJS.ProcessEnv };
  /** The fixture as a `docker save` archive. */
  fixtureTar: string;
  /** Tear everything down; returns notes about what had to be killed or removed. */
  close(): Promise<string[]>;
}

const log = (m: string): void => {
  if (process.env.CONF_VERBOSE === "1") console.error(`conformance: ${m}`);
};

async function fixtureImage(ref: Engine, berth: Engine, dir: string): Promise<{ id: string; tar: string }> {
  const busybox = await ensureBusybox(new Apt(log), log, 300_000);
  const rootfs = path.join(dir, "rootfs.tar");
  await makeRootfsTar(busybox, rootfs, dir, log);
  // Import into the reference, then save/load it into both: the config bytes, and so the id, are the same.
  await ref.docker(["import", "--change", "CMD [\"sh\"]", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", rootfs, FIXTURE], 120_000);
  const saved = path.join(dir, "fixture.tar");
  await ref.docker(["save", "-o", saved, FIXTURE], 120_000);
  await berth.docker(["load", "-i", saved], 120_000);
  const a = (await ref.docker(["image", "inspect", "-f", "{{.Id}}", FIXTURE], 30_000)).stdout.trim();
  const b = (await berth.docker(["image", "inspect", "-f", "{{.Id}}", FIXTURE], 30_000)).stdout.trim();
  if (a !== b) throw new Error(`fixture image ids differ: dockerd ${a}, berth ${b}`);
  return { id: a.replace(/^sha256:/, ""), tar: saved };
}

export async function startPair(): Promise<Pair> {
  const dockerd = await which("dockerd");
  if (!dockerd) throw new Error("dockerd (Debian docker.io, the reference) is not installed: run scripts/install-deps.sh");
  const dir = mkdtempSync("/tmp/bconf-");
  const hostPaths = await snapshotHostPaths();
  const ipForward = (await fs.readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
  const cli = await dockerClient();
  const dropped = new Set(["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"]);
  const cliEnv: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !dropped.has(k))),
    DOCKER_CONFIG: path.join(dir, "cli-config"),
    DOCKER_CLI_HINTS: "false",
    DOCKER_BUILDKIT: "0",
  };
  await fs.mkdir(path.join(dir, "cli-config"), { recursive: true });
  for (const d of ["dockerd", "berth"]) await fs.mkdir(path.join(dir, d), { recursive: true });
  const ref = new Dockerd(path.join(dir, "dockerd"), dockerd, BRIDGE.name, cli, cliEnv, log);
  const berth = new Berthd(path.join(dir, "berth"), cli, cliEnv, log);
  let bridge = false;
  const close = async (): Promise<string[]> => {
    const notes = [...(await ref.stop()), ...(await berth.stop())];
    notes.push(...(await removeShimSocketsNote(ref.dir)));
    if (bridge) await deleteBridge(BRIDGE.name);
    await removeNewHostPaths(hostPaths, (m) => notes.push(m));
    const now = (await fs.readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
    if (now !== ipForward) await fs.writeFile("/proc/sys/net/ipv4/ip_forward", ipForward);
    await fs.rm(dir, { recursive: true, force: true }).catch((e: unknown) => notes.push(`left ${dir}: ${String(e)}`));
    return notes;
  };
  try {
    const user = await bridgeUser(BRIDGE.name);
    if (user !== undefined) throw new Error(`bridge ${BRIDGE.name} is in use by another reference dockerd (pid ${user}); set CONF_BRIDGE and CONF_BRIDGE_CIDR to run side by side`);
    await createBridge(BRIDGE, log);
    bridge = true;
    await Promise.all([ref.start(60_000), berth.start(60_000)]);
    const fixture = await fixtureImage(ref, berth, dir);
    return { dir, ref, berth, imageId: fixture.id, fixtureTar: fixture.tar, cli: { cli, env: cliEnv }, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The pid of a running dockerd started with --bridge=<name>, if any (never delete a bridge someone uses). */
async function bridgeUser(name: string): Promise<number | undefined> {
  for (const pid of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (path.basename(argv[0] ?? "") === "dockerd" && argv.includes(`--bridge=${name}`)) return Number(pid);
  }
  return undefined;
}

async function removeShimSocketsNote(dockerdDir: string): Promise<string[]> {
  const n = await removeShimSockets(dockerdDir);
  return n > 0 ? [`removed ${n} stale shim socket(s)`] : [];
}

/** Remove what a scenario left: containers, other images and tags, volumes, user networks; reload the fixture if it went. */
export async function resetEngine(e: Engine, pair: Pair): Promise<void> {
  const d = async (args: string[]): Promise<string> => {
    try {
      return (await e.docker(args, 60_000)).stdout;
    } catch {
      return "";
    }
  };
  const ids = (await d(["ps", "-aq"])).split(/\s+/).filter(Boolean);
  if (ids.length > 0) await d(["rm", "-fv", ...ids]);
  const lines = (await d(["images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"])).split("\n").filter(Boolean);
  const fixtureId = `sha256:${pair.imageId}`;
  for (const l of lines) {
    const [id = "", ref = ""] = l.split(" ");
    if (id === fixtureId && ref !== FIXTURE && !ref.includes("<none>")) await d(["rmi", ref]);
  }
  const others = [...new Set(lines.map((l) => l.split(" ")[0] ?? "").filter((id) => id !== fixtureId && id !== ""))];
  if (others.length > 0) await d(["rmi", "-f", ...others]);
  if ((await d(["images", "-q", "--no-trunc", FIXTURE])).trim() !== fixtureId) await d(["load", "-i", pair.fixtureTar]);
  const vols = (await d(["volume", "ls", "-q"])).split(/\s+/).filter(Boolean);
  if (vols.length > 0) await d(["volume", "rm", "-f", ...vols]);
  await d(["network", "prune", "-f"]);
}
