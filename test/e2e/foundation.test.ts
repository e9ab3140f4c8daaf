/**
 * The foundation, proven with the real docker CLI against a private berthd:
 * version negotiation, import, run with exit codes and separate streams, stdin,
 * ps/rm/rmi, errors, and a restart that keeps everything.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { busyboxTarFile, leftovers, busyboxDaemon } from "./harness.js";
import { CG_VERSION } from "./cgroupfs.js";

describe("docker CLI against berthd: foundation", () => {
  const d = busyboxDaemon();

  it("negotiates the API version without warnings (docker version, docker info)", async () => {
    const v = await d.docker(["version"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Server: Berth Engine/);
    assert.match(v.stdout, /API version:\s+1\.47/);
    assert.equal(v.stderr, "");
    const i = await d.docker(["info"]);
    assert.equal(i.code, 0, i.stderr);
    assert.doesNotMatch(i.stderr, /WARNING/);
    assert.match(i.stdout, /Storage Driver: overlay2/);
  });

  it("lists the imported busybox image", async () => {
    const r = await d.docker(["images"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^busybox\s+latest\s+[0-9a-f]{12}\s/m); // reference: dockerd 20.10
    const ins = await d.docker(["image", "inspect", "-f", "{{.Os}} {{len .RootFS.Layers}}", "busybox"]);
    assert.equal(ins.stdout.trim(), "linux 1");
  });

  it("runs a container that prints hello and removes it (--rm)", async () => {
    const r = await d.docker(["run", "--rm", "busybox", "echo", "hello"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\n");
    const ps = await d.docker(["ps", "-aq"]);
    assert.equal(ps.stdout.trim(), "");
  });

  it("returns the container's exit code", async () => {
    const r = await d.docker(["run", "--name", "three", "busybox", "sh", "-c", "exit 3"]);
    assert.equal(r.code, 3);
    const code = await d.docker(["inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "three"]);
    assert.equal(code.stdout.trim(), "3 exited");
    const rm = await d.docker(["rm", "three"]);
    assert.equal(rm.code, 0, rm.stderr);
  });

  it("keeps stdout and stderr apart", async () => {
    const r = await d.docker(["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; echo out2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "out\nout2\n");
    assert.equal(r.stderr, "err\n");
  });

  it("pipes stdin with -i", async () => {
    const r = await d.docker(["run", "-i", "--rm", "busybox", "cat"], { input: "hi\nthere\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\nthere\n");
  });

  it("gives the container its own hostname, pid namespace and loopback", async () => {
    const r = await d.docker(["run", "--rm", "busybox", "sh", "-c", "hostname; echo $$; ip -o link show lo | grep -c UP; cat /proc/1/cmdline | tr '\\0' ' '"]);
    assert.equal(r.code, 0, r.stderr);
    const [host, pid, loUp] = r.stdout.split("\n");
    assert.match(host ?? "", /^[0-9a-f]{12}$/);
    assert.equal(pid, "1");
    assert.equal(loUp, "1");
  });

  it("applies the image's env, workdir and user from flags", async () => {
    const r = await d.docker(["run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "busybox", "sh", "-c", "echo $FOO $(pwd) $(id -u) $PATH"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "bar /tmp 65534 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  });

  it("shows containers in ps -a and removes them with rm", async () => {
    const c = await d.docker(["create", "--name", "listed", "busybox", "true"]);
    assert.equal(c.code, 0, c.stderr);
    const ps = await d.docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(ps.stdout, /^listed Created$/m); // reference: dockerd 20.10
    const st = await d.docker(["start", "-a", "listed"]);
    assert.equal(st.code, 0, st.stderr);
    const ps2 = await d.docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(ps2.stdout, /^listed Exited \(0\) /m); // reference: dockerd 20.10
    assert.equal((await d.docker(["rm", "listed"])).code, 0);
    assert.doesNotMatch((await d.docker(["ps", "-a"])).stdout, /listed/);
    // dockerd's COMMAND: arguments with a space in single quotes.
    const q = await d.docker(["create", "--name", "quoted", "busybox", "sh", "-c", "echo a b"]);
    assert.equal(q.code, 0, q.stderr);
    const cmd = await d.docker(["ps", "-a", "--no-trunc", "--filter", "name=quoted", "--format", "{{.Command}}"]);
    assert.equal(cmd.stdout.trim(), `"sh -c 'echo a b'"`); // reference: dockerd 20.10
    await d.docker(["rm", "quoted"]);
  });

  it("answers Docker's errors: 404 for unknown containers and images, 409 for name conflicts", async () => {
    const r = await d.docker(["rm", "nosuchthing"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such container: nosuchthing/); // reference: dockerd 20.10
    const i = await d.docker(["image", "inspect", "nosuchimage"]);
    assert.equal(i.code, 1);
    // reference: dockerd 20.10 names the default tag ("No such image: nosuchimage:latest", as rmi/tag/history do;
    // its inspect route alone prefixes "no such image: nosuchimage: ", which moby 23+ dropped).
    assert.match(i.stderr, /Error response from daemon: No such image: nosuchimage:latest$/m);
    await d.docker(["create", "--name", "dup", "busybox", "true"]);
    const dup = await d.docker(["create", "--name", "dup", "busybox", "true"]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Conflict. The container name "\/dup" is already in use/); // reference: dockerd 20.10
    await d.docker(["rm", "dup"]);
  });

  it("refuses to remove an image a container uses, unless forced", async () => {
    assert.equal((await d.docker(["tag", "busybox", "mybox:1"])).code, 0);
    await d.docker(["create", "--name", "user", "mybox:1", "true"]);
    const id = (await d.docker(["image", "inspect", "-f", "{{.Id}}", "mybox:1"])).stdout.trim();
    const r = await d.docker(["rmi", id]);
    assert.equal(r.code, 1);
    // reference: dockerd 20.10
    assert.match(r.stderr, /conflict: unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced in multiple repositories/);
    const untag = await d.docker(["rmi", "mybox:1"]);
    assert.equal(untag.code, 0, untag.stderr);
    assert.match(untag.stdout, /Untagged: mybox:1/); // reference: dockerd 20.10
    await d.docker(["rm", "user"]);
  });

  it("removes an unused image and its layer", async () => {
    const imp = await d.docker(["import", "-c", "CMD [\"/bin/sh\"]", await busyboxTarFile(), "scratchy:v1"]);
    assert.equal(imp.code, 0, imp.stderr);
    const r = await d.docker(["rmi", "scratchy:v1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Untagged: scratchy:v1/);
    assert.match(r.stdout, /Deleted: sha256:[0-9a-f]{64}/); // reference: dockerd 20.10
  });

  it("keeps containers and images across a daemon restart and a kill -9", async () => {
    await d.docker(["create", "--name", "survivor", "busybox", "true"]);
    await d.stop();
    await d.start();
    assert.match((await d.docker(["ps", "-a", "--format", "{{.Names}}"])).stdout, /survivor/);
    await d.kill9();
    await d.start();
    assert.match((await d.docker(["ps", "-a", "--format", "{{.Names}}"])).stdout, /survivor/);
    assert.match((await d.docker(["images"])).stdout, /busybox/);
    const r = await d.docker(["start", "-a", "survivor"]);
    assert.equal(r.code, 0, r.stderr);
    await d.docker(["rm", "survivor"]);
  });

  it("runs containers with crun when asked (--runtime crun), or says clearly why it cannot", async () => {
    const v2only = CG_VERSION === 2;
    const info = await d.docker(["info", "--format", "{{json .Runtimes}}"]);
    if (!info.stdout.includes("crun")) return; // crun not installed: nothing to test
    const r = await d.docker(["run", "--rm", "--runtime", "crun", "busybox", "echo", "from-crun"]);
    if (v2only) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "from-crun\n");
    } else {
      // Debian's crun 1.8 refuses hybrid cgroup hosts; the error must say so, and nothing may be left.
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /cgroups in hybrid mode not supported/);
      assert.equal((await d.docker(["ps", "-aq"])).stdout.trim(), "");
    }
    const bad = await d.docker(["run", "--rm", "--runtime", "nosuch", "busybox", "true"]);
    // reference: dockerd 20.10 says "Unknown runtime specified nosuch"; Berth keeps moby 24+'s wording.
    assert.match(bad.stderr, /unknown or invalid runtime name: nosuch/);
  });

  it("leaves no mounts, runtime state or monitors after containers are removed", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await d.docker(["run", "--rm", "busybox", "true"]);
      assert.equal(r.code, 0, r.stderr);
    }
    const left = await leftovers(d);
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] });
  });
});
