import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { Mounter } from "./mounter.js";
import { run } from "./exec.js";

const mounted = (p: string): boolean => readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === p);

function helperPids(): number[] {
  const kids = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return kids.map(Number).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("--mount-server");
    } catch {
      return false;
    }
  });
}

test("the mount helper mounts an overlay whose relative lowerdir resolves against the given cwd, and unmounts it", async () => {
  const dir = mkdtempSync("/tmp/berth-mounter-");
  for (const d of ["lower", "upper", "work", "merged"]) await fs.mkdir(path.join(dir, d));
  await fs.writeFile(path.join(dir, "lower", "f"), "from lower");
  const m = new Mounter();
  try {
    const merged = path.join(dir, "merged");
    await m.mount("overlay", "overlay", merged, `lowerdir=lower,upperdir=${dir}/upper,workdir=${dir}/work`, dir);
    assert.ok(mounted(merged));
    assert.equal(await fs.readFile(path.join(merged, "f"), "utf8"), "from lower");
    await m.umount(merged);
    assert.ok(!mounted(merged));
  } finally {
    m.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("a failed mount(2) or umount2(2) rejects with the target and the system's message, and the helper keeps serving", async () => {
  const dir = mkdtempSync("/tmp/berth-mounter-");
  const m = new Mounter();
  try {
    await assert.rejects(m.umount(dir), /umount .*berth-mounter-.*: Invalid argument/);
    await assert.rejects(m.mount("tmpfs", "t", path.join(dir, "missing"), "size=1m"), /mount tmpfs on .*missing: No such file or directory/);
    await assert.rejects(m.umount(dir, true), /Invalid argument/);
    await m.mount("tmpfs", "t", dir, "size=1m");
    assert.ok(mounted(dir));
    await m.umount(dir, true);
    assert.ok(!mounted(dir));
    await assert.rejects(m.umount("a\0b"), /NUL byte/);
  } finally {
    m.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("a killed mount helper is replaced on the next request", async () => {
  const dir = mkdtempSync("/tmp/berth-mounter-");
  const m = new Mounter();
  try {
    await assert.rejects(m.umount(dir), /Invalid argument/); // starts the helper
    const [pid] = helperPids();
    assert.ok(pid, "a --mount-server child runs");
    const exited = new Promise<void>((resolve) => {
      const poll = (): void => void (helperPids().includes(pid) ? setTimeout(poll, 5) : resolve());
      poll();
    });
    process.kill(pid, "SIGKILL");
    await exited;
    await m.mount("tmpfs", "t", dir, "size=1m");
    assert.ok(mounted(dir));
    assert.ok(!helperPids().includes(pid));
    await m.umount(dir);
  } finally {
    m.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("the helper's netns request binds a new network namespace at the file and runs the ip batch inside it; ip's errors come back", async () => {
  const dir = mkdtempSync("/tmp/berth-mounter-");
  const ns = path.join(dir, "ns");
  await fs.writeFile(ns, "");
  const m = new Mounter();
  try {
    await m.netns(ns, "ip", "link set lo up\naddr add 10.77.0.1/32 dev lo\n");
    assert.ok(mounted(ns));
    const { stdout } = await run("nsenter", [`--net=${ns}`, "ip", "-o", "addr", "show", "dev", "lo"]);
    assert.match(stdout, /inet 10\.77\.0\.1\/32/);
    const host = await run("ip", ["-o", "addr", "show", "dev", "lo"]);
    assert.doesNotMatch(host.stdout, /10\.77\.0\.1/);
    await m.umount(ns);
    const bad = path.join(dir, "bad");
    await fs.writeFile(bad, "");
    await assert.rejects(m.netns(bad, "ip", "link set berth-no-such0 up\n"), /^EngineError: ip: .*Cannot find device "berth-no-such0"/);
    await m.umount(bad);
    await assert.rejects(m.netns(path.join(dir, "missing"), "ip", "link set lo up\n"), /mount .*missing: No such file or directory/);
  } finally {
    m.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
