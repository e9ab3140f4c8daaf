/**
 * Permissions of the data and exec roots (the CVE-2021-41091 class): a container
 * can make a setuid-root copy of a shell in its writable layer or in a volume;
 * no unprivileged host user may reach it. Every directory berthd creates has
 * the mode the table below gives (dockerd's, where dockerd has the same
 * directory), and a root left by an older berthd (wider modes) is tightened at
 * start-up. The host user is uid/gid 65534 without groups or capabilities.
 *
 * Reference (Debian's dockerd 20.10 on private roots, a container with a volume
 * running; `find D -maxdepth 3 -printf '%m %u %g %p'`): data root 710 root:root
 * (root:<remapped gid> with --userns-remap, and <uid>.<gid>/ 710 the same);
 * image/ 700; overlay2/ and overlay2/<id> 710 (group remapped), diff/ and
 * merged/ 755, work/ 700; containers/ and containers/<id> 710, config.v2.json
 * 600, the json log 640; volumes/ and volumes/<name> 701, _data 755; network/
 * 750; tmp/ 700; exec root 700 (its socket is outside it, /var/run/docker.sock),
 * runtime-runc/ 700. Berth's exec root holds the default socket: 0711.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import { run, withDaemon } from "./harness.js";

/** Run a shell script as nobody: no supplementary groups, no capabilities (setpriv keeps them until exec, so a shell runs first). */
function asNobody(script: string, args: string[]): ReturnType<typeof run> {
  return run("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all", "/bin/sh", "-c", script, "sh", ...args]);
}

/**
 * Every directory berthd makes under its roots, with the mode it must have (the
 * remapped root's group is root without --userns-remap). Paths are relative to the root;
 * `*` is one path component.
 */
const DATA_ROOT_DIRS: [pattern: string, mode: number, reason: string][] = [
  [".", 0o710, "dockerd's 0710: only root, and the remapped root through the group, may pass"],
  ["image", 0o710, "holds snapshots/: the remapped root passes through to a container's rootfs"],
  ["image/content", 0o700, "blobs: root only (dockerd: image/ 0700)"],
  ["image/content/*", 0o700, "blobs, ingest"],
  ["image/layers", 0o700, "unpacked layers are only overlay lowerdirs, mounted by root (dockerd: overlay2/l 0700)"],
  ["image/empty", 0o700, "the empty lowerdir"],
  ["image/snapshots", 0o710, "dockerd's overlay2/ 0710: the remapped root passes through to merged/"],
  ["image/snapshots/*", 0o710, "dockerd's overlay2/<id> 0710"],
  ["image/snapshots/*/upper", 0o755, "the container's / (dockerd's diff/ 0755), unreachable through its 0710 parents"],
  ["image/snapshots/*/merged", 0o755, "the mount point (dockerd's merged/ 0755)"],
  ["image/snapshots/*/work", 0o700, "overlay's work dir (dockerd: 0700)"],
  ["containers", 0o710, "dockerd's 0710: the remapped root reaches its /etc files"],
  ["containers/*", 0o710, "dockerd's containers/<id> 0710"],
  ["volumes", 0o701, "dockerd's 0701: the remapped root passes to _data (a bind source); unlistable"],
  ["volumes/*", 0o701, "dockerd's volumes/<name> 0701"],
  ["volumes/*/_data", 0o755, "the volume's root as the container sees it (dockerd: 0755)"],
  ["network", 0o700, "network and endpoint records (dockerd: 0750)"],
  ["network/*", 0o700, "networks/, containers/"],
  ["build", 0o710, "the build cache; tmp/ holds the /etc files of user-namespaced RUN steps"],
  ["build/tmp", 0o710, "contexts and RUN steps' /etc files"],
  ["tmp", 0o700, "dockerd's tmp/ 0700"],
  ["tmp/*", 0o700, "archives being loaded"],
];
const EXEC_ROOT_DIRS: [pattern: string, mode: number, reason: string][] = [
  [".", 0o711, "the default API socket (0660, group berth) and the pid file live here: members must reach them; not listable"],
  ["runtime", 0o700, "the OCI runtime's state (dockerd: runtime-runc 0700)"],
  ["runtime/*", 0o700, "runc --root"],
  ["c", 0o700, "bundles and the monitors' sockets and state"],
  ["netns", 0o700, "network namespace bind mounts"],
  ["network", 0o700, "the embedded DNS server's state"],
  ["network/*", 0o700, "aardvark-dns config"],
  ["archive", 0o700, "docker cp staging"],
];

function matches(pattern: string, rel: string): boolean {
  const p = pattern === "." ? [] : pattern.split("/");
  const r = rel === "." ? [] : rel.split("/");
  return p.length === r.length && p.every((c, i) => c === "*" || c === r[i]);
}

/** Directories under root, not descending into container contents (modes set by images and containers). */
async function walkDirs(root: string, skip: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = ["."];
  const stack = ["."];
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    if (skip(rel)) continue;
    for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const child = rel === "." ? e.name : `${rel}/${e.name}`;
      out.push(child);
      stack.push(child);
    }
  }
  return out;
}

const CONTENT = ["image/layers/*", "image/snapshots/*/upper", "image/snapshots/*/merged", "image/snapshots/*/work", "volumes/*/_data", "containers/*/shm"];

/** Whether others may pass every directory from root down to rel's parent (root itself is reachable). */
async function reachable(root: string, rel: string): Promise<boolean> {
  const parts = rel === "." ? [] : rel.split("/");
  for (let i = 0; i < parts.length; i++) {
    const st = await fs.stat(path.join(root, ...parts.slice(0, i)));
    if ((st.mode & 0o001) === 0) return false;
  }
  return true;
}

/** Directories with group permissions belong to the remapped root's group (root's without --userns-remap). */
async function checkTable(root: string, table: [string, number, string][], skip: string[], gid: number): Promise<string[]> {
  const bad: string[] = [];
  for (const rel of await walkDirs(root, (r) => skip.some((s) => matches(s, r)))) {
    const st = await fs.stat(path.join(root, rel));
    const row = table.find(([p]) => matches(p, rel));
    const mode = st.mode & 0o7777;
    if (row) {
      if (mode !== row[1]) bad.push(`${rel}: ${mode.toString(8)}, want ${row[1].toString(8)} (${row[2]})`);
      if ((row[1] & 0o070) !== 0 && (row[1] & 0o007) === 0 && st.gid !== gid) bad.push(`${rel}: group ${st.gid}, want ${gid}`);
    } else if ((mode & 0o007) !== 0 && (await reachable(root, rel))) {
      // Not one of ours (the runtime's own state, …) and open to others who can get there.
      bad.push(`${rel}: ${mode.toString(8)} is open to others and not in the table`);
    }
    if (st.uid !== 0 && !rel.endsWith("/upper") && !rel.endsWith("/_data") && !rel.endsWith("/merged")) bad.push(`${rel}: owned by uid ${st.uid}`);
  }
  return bad;
}

const MODES = [
  { title: "", args: [] as string[] },
  { title: " with --userns-remap", args: ["--userns-remap", "default"] },
];

for (const { title, args } of MODES) describe(`data and exec root permissions${title}`, () => {
  const d = withDaemon({
    // The harness's temp dir is 0700; a real data root lives under /var/lib (0755): open the way down to the roots.
    prepare: () => fs.chmod(d.dir, 0o755),
    args,
    teardown: async () => {
      await d.docker(["rm", "-f", "evil"]);
    },
  });
  let setuidFiles: string[] = [];
  // With --userns-remap the stores live in <data-root>/<uid>.<gid>, the data root's group is the remapped root's.
  let storeRoot = d.dataRoot;
  let gid = 0;

  before(async () => {
    if (args.length > 0) {
      const remap = (await fs.readdir(d.dataRoot)).find((n) => /^\d+\.\d+$/.test(n)) as string;
      storeRoot = path.join(d.dataRoot, remap);
      gid = Number(remap.split(".")[1]);
    }
    assert.equal((await d.docker(["volume", "create", "loot"])).code, 0);
    const r = await d.docker(["run", "-d", "--name", "evil", "-v", "loot:/vol", "busybox", "sleep", "1000"]);
    assert.equal(r.code, 0, r.stderr);
    const ex = await d.docker(["exec", "evil", "sh", "-c", "cp /bin/busybox /tmp/busybox && chmod 4755 /tmp/busybox && cp /bin/busybox /vol/busybox && chmod 4755 /vol/busybox"]);
    assert.equal(ex.code, 0, ex.stderr);
    // Where the setuid copies are on the host (found as root): the upper dir, the mounted rootfs, the volume.
    const f = await run("find", [d.dataRoot, "-type", "f", "-perm", "-4000", "-name", "busybox"]);
    setuidFiles = f.stdout.split("\n").filter(Boolean);
    assert.equal(setuidFiles.length, 3, f.stdout);
  });

  async function assertUnreachable(): Promise<void> {
    // Sanity: nobody can pass the directory above the roots, so a refusal comes from the roots themselves.
    const up = await asNobody('ls "$1" >/dev/null && echo listed', [d.dir]);
    assert.equal(up.stdout.trim(), "listed", up.stderr);
    for (const file of setuidFiles) {
      const r = await asNobody('test -e "$1" && echo visible; "$1" id -u; echo "rc=$?"', [file]);
      assert.doesNotMatch(r.stdout, /visible/, `${file} is visible to nobody`);
      assert.match(r.stdout, /^rc=126$/m, `${file}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, /Permission denied/);
    }
    for (const root of [d.dataRoot, d.execRoot]) {
      const r = await asNobody('ls "$1"; echo "rc=$?"', [root]);
      assert.doesNotMatch(r.stdout, /^rc=0$/m, `${root} is listable by nobody: ${r.stdout}`);
    }
  }

  async function assertModes(): Promise<void> {
    const bad = [
      ...(await checkTable(storeRoot, DATA_ROOT_DIRS, CONTENT, gid)),
      ...(await checkTable(d.execRoot, EXEC_ROOT_DIRS, [], gid)).map((s) => `exec-root ${s}`),
    ];
    if (storeRoot !== d.dataRoot) {
      const st = await fs.stat(d.dataRoot);
      if ((st.mode & 0o7777) !== 0o710 || st.gid !== gid) bad.push(`data root: ${(st.mode & 0o7777).toString(8)} group ${st.gid}, want 710 group ${gid}`);
    }
    assert.deepEqual(bad, []);
  }

  it("keeps a container's setuid shell in its writable layer and in a volume out of an unprivileged user's reach", async () => {
    await assertUnreachable();
  });

  it("creates every directory of the data and exec roots no wider than the table allows", async () => {
    await assertModes();
  });

  it("tightens a data root and exec root left with wide modes by an older berthd at start-up", async () => {
    await d.stop();
    // What an older berthd left: 0711 roots and 0755 directories below them.
    const wide = async (root: string, table: [string, number, string][], skip: string[], rootMode: number) => {
      for (const rel of await walkDirs(root, (r) => skip.some((s) => matches(s, r)))) {
        if (table.some(([p]) => matches(p, rel))) await fs.chmod(path.join(root, rel), rel === "." ? rootMode : 0o755);
      }
    };
    await wide(storeRoot, DATA_ROOT_DIRS, CONTENT, 0o711);
    await fs.chmod(d.dataRoot, 0o711);
    // The non-remapped store of an older run (the remapped root may pass the data root now).
    const plain = path.join(d.dataRoot, "image");
    if (storeRoot !== d.dataRoot) await fs.mkdir(plain, { mode: 0o755 });
    await wide(d.execRoot, EXEC_ROOT_DIRS, [], 0o755);
    const leaked = await asNobody('test -e "$1" && echo visible', [setuidFiles[0] as string]);
    assert.equal(leaked.stdout.trim(), "visible", "the wide modes expose the setuid copy (the test's premise)");
    await d.start(args);
    await assertModes();
    if (storeRoot !== d.dataRoot) assert.equal((await fs.stat(plain)).mode & 0o777, 0o750, "others lose their access to the plain store's directories");
    await assertUnreachable();
  });
});
