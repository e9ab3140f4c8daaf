import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { Mounter, mountedOver } from "./mounter.js";
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

/** Whether the process is gone or a zombie within ms (SIGKILL delivery and reaping are asynchronous). */
async function diesWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    let state = "X";
    try {
      state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] ?? "X";
    } catch {
      // gone
    }
    if (state === "Z" || state === "X") return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("the mount helper mounts an overlay whose relative lowerdir resolves against the given cwd, and unmounts it; mountedOver sees it", async () => {
  const dir = mkdtempSync("/tmp/berth-mounter-");
  for (const d of ["lower", "upper", "work", "merged"]) await fs.mkdir(path.join(dir, d));
  await fs.writeFile(path.join(dir, "lower", "f"), "from lower");
  const m = new Mounter();
  try {
    const merged = path.join(dir, "merged");
    assert.equal(await mountedOver(merged), false);
    assert.equal(await mountedOver(path.join(dir, "missing")), false);
    await m.mount("overlay", "overlay", merged, `lowerdir=lower,upperdir=${dir}/upper,workdir=${dir}/work`, dir);
    assert.ok(mounted(merged));
    assert.equal(await mountedOver(merged), true);
    assert.equal(await fs.readFile(path.join(merged, "f"), "utf8"), "from lower");
    await m.umount(merged);
    assert.ok(!mounted(merged));
    assert.equal(await mountedOver(merged), false);
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

test("a mount helper killed during a request fails that request, takes its child with it, and is replaced on the next request", async () => {
  const dir = mkdtempSync("/tmp/berth-mounter-");
  const ns = path.join(dir, "ns");
  const fakeIp = path.join(dir, "fake-ip");
  await fs.writeFile(ns, "");
  // Stands in for ip: signals that it runs (the file), then blocks until killed.
  await fs.writeFile(fakeIp, `#!/bin/sh\necho $$ > ${dir}/ip.pid\nexec sleep 60\n`, { mode: 0o755 });
  const m = new Mounter();
  try {
    const pending = m.netns(ns, fakeIp, "link set lo up\n");
    const ipPid = await new Promise<number>((resolve) => {
      const poll = (): void => void fs.readFile(path.join(dir, "ip.pid"), "utf8").then((t) => (t.endsWith("\n") ? resolve(Number(t)) : setTimeout(poll, 5)), () => setTimeout(poll, 5));
      poll();
    });
    const [pid] = helperPids();
    assert.ok(pid, "a --mount-server child runs");
    process.kill(pid, "SIGKILL");
    await assert.rejects(pending, /mount helper exited \(SIGKILL\)/);
    await m.umount(ns); // a new helper answers
    assert.ok(!helperPids().includes(pid));
    assert.ok(await diesWithin(ipPid, 5000), "the helper's child died with it");
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
