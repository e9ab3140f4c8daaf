/**
 * `--user`, `--group-add` and `exec -u`: uid, gid and supplementary groups as
 * dockerd 20.10 sets them (the primary gid, the groups of /etc/group that list
 * the user when no group is given, then --group-add). Every expected `id` line
 * and error was recorded from the reference dockerd with the same busybox image.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { busyboxDaemon } from "./harness.js";

const RUNS: [string[], string][] = [
  [["-u", "65534:65534"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
  [["-u", "65534"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
  [["-u", "nobody"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
  [["-u", "nobody:nogroup"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
  [["-u", "0"], "uid=0(root) gid=0(root) groups=0(root),10(wheel)"],
  [["-u", "root"], "uid=0(root) gid=0(root) groups=0(root),10(wheel)"],
  [["-u", "1:1"], "uid=1(daemon) gid=1(daemon) groups=1(daemon)"],
  [["-u", "4242"], "uid=4242 gid=0(root) groups=0(root)"],
  [["-u", "4242:4242"], "uid=4242 gid=4242 groups=4242"],
  [["-u", "4242:nogroup"], "uid=4242 gid=65534(nogroup) groups=65534(nogroup)"],
  [["-u", "nobody:4242"], "uid=65534(nobody) gid=4242 groups=4242"],
  [["-u", "sync"], "uid=4(sync) gid=100(users) groups=100(users)"],
  [["-u", "www-data:users"], "uid=33(www-data) gid=100(users) groups=100(users)"],
  [["-u", "0:100"], "uid=0(root) gid=100(users) groups=100(users)"],
  [["-u", ":100"], "uid=0(root) gid=100(users) groups=100(users)"],
  [["-u", "+5"], "uid=5 gid=0(root) groups=0(root)"],
  [["--group-add", "wheel"], "uid=0(root) gid=0(root) groups=0(root),10(wheel)"],
  [["--group-add", "10", "--group-add", "10"], "uid=0(root) gid=0(root) groups=0(root),10(wheel)"],
  [["--group-add", "audio", "--group-add", "4242"], "uid=0(root) gid=0(root) groups=0(root),10(wheel),29(audio),4242"],
  [["-u", "nobody", "--group-add", "audio"], "uid=65534(nobody) gid=65534(nogroup) groups=29(audio),65534(nogroup)"],
  [["-u", "4242", "--group-add", "audio"], "uid=4242 gid=0(root) groups=0(root),29(audio)"],
  [["-u", "65534:65534", "--group-add", "65534"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
];

const RUN_ERRORS: [string[], string][] = [
  [["-u", "nosuchuser"], "unable to find user nosuchuser: no matching entries in passwd file"],
  [["-u", "nobody:nosuchgroup"], "unable to find group nosuchgroup: no matching entries in group file"],
  [["--group-add", "nosuchgroup"], "Unable to find group nosuchgroup: no matching entries in group file"],
  [["--group-add", "wheel", "--group-add", "wheel"], "Unable to find group wheel: no matching entries in group file"],
  [["-u", "4294967296"], "uids and gids must be in range 0-2147483647"],
  [["-u", "5:-1"], "uids and gids must be in range 0-2147483647"],
  [["--group-add", "4294967296"], "uids and gids must be in range 0-2147483647"],
];

// [container, exec args] → `id` output; "plain" runs as root, "grouped" with -u nobody --group-add audio.
const EXECS: [string, string[], string][] = [
  ["plain", [], "uid=0(root) gid=0(root) groups=0(root),10(wheel)"],
  ["plain", ["-u", "65534:65534"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
  ["plain", ["-u", "nobody"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"],
  ["plain", ["-u", "4242"], "uid=4242 gid=0(root) groups=0(root)"],
  ["plain", ["-u", "0:100"], "uid=0(root) gid=100(users) groups=100(users)"],
  ["plain", ["-u", "sync"], "uid=4(sync) gid=100(users) groups=100(users)"],
  ["grouped", [], "uid=65534(nobody) gid=65534(nogroup) groups=29(audio),65534(nogroup)"],
  ["grouped", ["-u", "root"], "uid=0(root) gid=0(root) groups=0(root),10(wheel),29(audio)"],
  ["grouped", ["-u", "4242"], "uid=4242 gid=0(root) groups=0(root),29(audio)"],
  ["grouped", ["-u", "nobody:users"], "uid=65534(nobody) gid=100(users) groups=29(audio),100(users)"],
];

describe("users and groups of container and exec processes", () => {
  const d = busyboxDaemon();

  for (const [args, want] of RUNS) {
    it(`runs ${args.join(" ")} as ${want}`, async () => {
      const r = await d.docker(["run", "--rm", ...args, "busybox", "id"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${want}\n`);
    });
  }

  for (const [args, want] of RUN_ERRORS) {
    it(`refuses to start ${args.join(" ")}: ${want}`, async () => {
      const r = await d.docker(["run", "--rm", ...args, "busybox", "id"]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.split("\n")[0], `docker: Error response from daemon: ${want}`);
    });
  }

  it("runs exec processes with the user's groups and the container's --group-add", async () => {
    assert.equal((await d.docker(["run", "-d", "--name", "plain", "busybox", "sleep", "300"])).code, 0);
    assert.equal((await d.docker(["run", "-d", "--name", "grouped", "-u", "nobody", "--group-add", "audio", "busybox", "sleep", "300"])).code, 0);
    for (const [c, args, want] of EXECS) {
      const r = await d.docker(["exec", ...args, c, "id"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${want}\n`, `exec ${args.join(" ")} ${c}`);
    }
  });

  it("fails an exec for an unknown user at start, in the stream, with exit code 126", async () => {
    const r = await d.docker(["exec", "-u", "nosuch", "plain", "id"]);
    assert.equal(r.code, 126);
    assert.equal(r.stdout, "unable to find user nosuch: no matching entries in passwd file\r\n");
    await d.docker(["rm", "-f", "plain", "grouped"]);
  });
});
