/**
 * Every process Berth starts for a user is confined alike (docker run, docker exec,
 * health checks, build RUN steps), and the default seccomp profile is Docker's
 * allowlist: attacks that the profile must stop, run through each path. Expected
 * answers are the reference dockerd's on this host (same runc): a syscall outside
 * the list fails with EPERM, clone3 with ENOSYS, an unknown syscall number with ENOSYS.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DOCKER, run, until, withDaemon } from "./harness.js";

const SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../test/e2e/fixtures/sysprobe.c");
const EPERM = "Operation not permitted";
const ENOSYS = "Function not implemented";

/** "name=answer" lines of sysprobe into a map. */
function answers(out: string): Record<string, string> {
  return Object.fromEntries(out.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

/** A shell line that tries to make a user namespace and reports the outcome, and the seccomp mode. */
const ATTACK = "grep '^Seccomp:' /proc/self/status; unshare -Ur true 2>/dev/null; echo unshare=$?; mkdir -p /m; mount -t tmpfs x /m 2>/dev/null; echo mount=$?";

describe("confinement of every process, and the default seccomp allowlist", () => {
  const d = withDaemon();
  let probe = "";
  before(async () => {
    probe = path.join(d.dir, "sysprobe");
    const cc = await run("gcc", ["-static", "-O2", "-o", probe, SOURCE]);
    assert.equal(cc.code, 0, cc.stderr);
  });

  const probeRun = async (flags: string[], calls: string[]): Promise<Record<string, string>> => {
    const r = await d.docker(["run", "--rm", "-v", `${probe}:/sysprobe:ro`, ...flags, "busybox", "/sysprobe", ...calls]);
    assert.equal(r.code, 0, r.stderr);
    return answers(r.stdout);
  };

  it("refuses a user namespace and a mount in docker run and docker exec", async () => {
    const r = await d.docker(["run", "--rm", "busybox", "sh", "-c", ATTACK]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    assert.match(r.stdout, /^unshare=1$/m);
    assert.match(r.stdout, /^mount=1$/m);
    assert.equal((await d.docker(["run", "-d", "--name", "target", "busybox", "sleep", "60"])).code, 0);
    const ex = await d.docker(["exec", "target", "sh", "-c", ATTACK]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stdout, /^Seccomp:\s+2$/m);
    assert.match(ex.stdout, /^unshare=1$/m);
    assert.match(ex.stdout, /^mount=1$/m);
    const priv = await d.docker(["exec", "--privileged", "target", "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -Ur true 2>/dev/null; echo unshare=$?"]);
    assert.match(priv.stdout, /^Seccomp:\s+2$/m, "exec --privileged adds capabilities, the container's filter stays");
    await d.docker(["rm", "-f", "target"]);
  });

  it("refuses a user namespace and a mount in a health check command", async () => {
    const r = await d.docker(["run", "-d", "--name", "probed", "--health-cmd", ATTACK, "--health-interval", "300ms", "busybox", "sleep", "60"]);
    assert.equal(r.code, 0, r.stderr);
    const out = async () => (await d.docker(["inspect", "-f", "{{range .State.Health.Log}}{{.Output}}{{end}}", "probed"])).stdout;
    assert.ok(await until(async () => /mount=\d/.test(await out()), 15_000), "a probe ran");
    const log = await out();
    assert.match(log, /^Seccomp:\s+2$/m);
    assert.match(log, /^unshare=1$/m);
    assert.match(log, /^mount=1$/m);
    await d.docker(["rm", "-f", "probed"]);
  });

  it("refuses a user namespace and a mount in a build RUN step", async () => {
    const ctx = path.join(d.dir, "ctx");
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, "Dockerfile"), `FROM busybox\nRUN ${ATTACK}\n`);
    const r = await run(DOCKER, ["build", "--no-cache", ctx], { env: { ...d.env, DOCKER_BUILDKIT: "0" }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    assert.match(r.stdout, /^unshare=1$/m);
    assert.match(r.stdout, /^mount=1$/m);
  });

  it("allows only the listed syscalls: io_uring, AF_VSOCK, personality flags and unknown numbers are refused", async () => {
    const a = await probeRun([], [
      "io_uring_setup", "io_uring_enter", "io_uring_register", "socket_vsock", "socket_unix", "personality_linux32",
      "personality_query", "personality_no_randomize", "unknown_1000", "clone3", "kcmp", "keyctl",
    ]);
    assert.deepEqual(a, {
      io_uring_setup: EPERM,
      io_uring_enter: EPERM,
      io_uring_register: EPERM,
      socket_vsock: EPERM,
      socket_unix: "ok",
      personality_linux32: "ok",
      personality_query: "ok",
      personality_no_randomize: EPERM,
      unknown_1000: ENOSYS,
      clone3: ENOSYS,
      kcmp: EPERM,
      keyctl: EPERM,
    });
  });

  it("relaxes the profile per capability like Docker, and lifts it for --privileged and seccomp=unconfined", async () => {
    const admin = await probeRun(["--cap-add", "SYS_ADMIN"], ["clone3", "io_uring_setup"]);
    assert.notEqual(admin["clone3"], ENOSYS, "CAP_SYS_ADMIN: clone3 reaches the kernel");
    assert.equal(admin["io_uring_setup"], EPERM);
    const ns = await d.docker(["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", "unshare -U true && echo userns-ok"]);
    assert.match(ns.stdout, /userns-ok/, ns.stderr);
    const ptrace = await probeRun(["--cap-add", "SYS_PTRACE"], ["kcmp"]);
    assert.equal(ptrace["kcmp"], "ok", "CAP_SYS_PTRACE allows kcmp");
    for (const flags of [["--privileged"], ["--security-opt", "seccomp=unconfined"]]) {
      const a = await probeRun(flags, ["io_uring_enter", "personality_no_randomize", "keyctl"]);
      assert.notEqual(a["io_uring_enter"], EPERM, `${flags.join(" ")}: io_uring reaches the kernel`);
      assert.equal(a["personality_no_randomize"], "ok", flags.join(" "));
      assert.notEqual(a["keyctl"], EPERM, flags.join(" "));
    }
  });

  it("accepts --security-opt apparmor=… and label=… as dockerd does on a host without AppArmor or SELinux", async () => {
    const enabled = await fs.readFile("/sys/module/apparmor/parameters/enabled", "utf8").catch(() => "N");
    for (const opt of ["apparmor=unconfined", "label=disable", "label=type:svirt_lxc_net_t"]) {
      const r = await d.docker(["run", "--rm", "--security-opt", opt, "busybox", "true"]);
      assert.equal(r.code, 0, `${opt}: ${r.stderr}`);
    }
    if (!enabled.startsWith("Y")) {
      // dockerd 20.10 here: created and started, the profile is not applied (no AppArmor to apply it with).
      const r = await d.docker(["run", "--name", "aa", "--security-opt", "apparmor=no-such-profile", "busybox", "true"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await d.docker(["inspect", "-f", "{{.AppArmorProfile}}", "aa"])).stdout.trim(), "no-such-profile");
      await d.docker(["rm", "aa"]);
    }
    const bad = await d.docker(["run", "--rm", "--security-opt", "apparmor", "busybox", "true"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid --security-opt: "apparmor"/); // reference: dockerd 20.10
  });
});
