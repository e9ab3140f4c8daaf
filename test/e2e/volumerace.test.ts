/**
 * A hostile running container that shares a volume swaps a directory of it for a
 * symlink to a host directory (a canary) in a tight loop while berthd works on
 * the volume for another container: `docker cp` into and out of the volume, the
 * copy-up of image content into the volume, and a `volume-subpath` mount whose
 * parent is the swapped directory. The other container is frozen during cp, the
 * hostile one is not. Nothing may ever be written into the canary or read out
 * of it. Every loop is bounded: the hostile containers end by themselves
 * (timeout), each operation runs a fixed number of times.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { pack as tarPack } from "tar-stream";
import { withDaemon } from "./harness.js";

const ROUNDS = 8;
/** The hostile loops stop by themselves after this (seconds), whatever happens to the test. */
const HOSTILE_SECONDS = 240;

/** A tar of a directory d holding many files: the extraction takes a while, and d is the swapped name. */
async function manyFilesTar(prefix: string, files: number): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  if (prefix !== "") p.entry({ name: prefix, type: "directory", mode: 0o755 });
  for (let i = 0; i < files; i++) p.entry({ name: `${prefix === "" ? "" : `${prefix}/`}pwned-${i}`, mode: 0o644 }, "pwn\n");
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every path below dir with its content (files) or "dir"/"link -> x". */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const n of (await fs.readdir(path.join(dir, rel))).sort()) {
      const r = rel === "" ? n : `${rel}/${n}`;
      const st = await fs.lstat(path.join(dir, r));
      if (st.isDirectory()) {
        out[r] = `dir ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
        await walk(r);
      } else if (st.isSymbolicLink()) out[r] = `link -> ${await fs.readlink(path.join(dir, r))}`;
      else out[r] = `file ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${await fs.readFile(path.join(dir, r), "utf8")}`;
    }
  };
  await walk("");
  return out;
}

describe("a hostile container sharing a volume cannot redirect berthd to the host", () => {
  const d = withDaemon();
  const secret = `CANARY-${randomBytes(8).toString("hex")}`;
  const canaries: string[] = [];

  const ok = async (args: string[], input?: Buffer) => {
    const r = await d.docker(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  /** A host directory (secret, sub/secret) a hostile symlink points to; intact() asserts nothing in it changed. */
  const newCanary = async () => {
    const dir = mkdtempSync("/tmp/berth-canary-");
    canaries.push(dir);
    await fs.writeFile(path.join(dir, "secret"), `${secret}\n`, { mode: 0o644 });
    await fs.mkdir(path.join(dir, "sub"));
    await fs.writeFile(path.join(dir, "sub", "secret"), `${secret}\n`, { mode: 0o644 });
    const initial = await snapshot(dir);
    return {
      dir,
      intact: async (what: string) => assert.deepEqual(await snapshot(dir), initial, `${what} reached the host directory the swapped symlink points to`),
    };
  };

  after(async () => {
    for (const c of canaries) await fs.rm(c, { recursive: true, force: true });
  });

  /**
   * busybox sh: /v/<name> (made with setup) flips between the real directory and a
   * symlink to target, each state held a few milliseconds; the moments without
   * either are short.
   */
  const flip = (name: string, target: string, setup = `mkdir -p ${name}`) =>
    `cd /v; ${setup}; hold() { i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; }; while :; do mv ${name} r; ln -s ${target} ${name}; hold; rm ${name}; mv r ${name}; hold; done`;

  /** A hostile container with the volume at /v running loop (busybox sh) until it is removed or its time is up. */
  const hostile = (name: string, volume: string, loop: string) =>
    ok(["run", "-d", "--name", name, "-v", `${volume}:/v`, "busybox", "timeout", String(HOSTILE_SECONDS), "sh", "-c", loop]);

  it("extracts docker cp archives into a shared volume only inside it while the volume's directory is swapped for a symlink", { timeout: 240_000 }, async () => {
    const canary = await newCanary();
    // /v/d flips between a real directory and a symlink to the canary.
    await hostile("cp-hostile", "cpvol", flip("d", canary.dir));
    await ok(["run", "-d", "--name", "cp-target", "-v", "cpvol:/data", "busybox", "sleep", "300"]);
    try {
      const intoVolume = await manyFilesTar("d", 64);
      const intoDir = await manyFilesTar("", 64);
      let written = 0;
      for (let i = 0; i < ROUNDS; i++) {
        // Failures are allowed (the directory vanished under us); writing outside is not.
        if ((await d.docker(["cp", "-", "cp-target:/data"], { input: intoVolume })).code === 0) written++;
        await d.docker(["cp", "-", "cp-target:/data/d"], { input: intoDir });
      }
      await canary.intact("docker cp into the volume");
      assert.ok(written > 0, "no copy into the volume succeeded at all");
      assert.equal(await ok(["inspect", "-f", "{{.State.Status}}", "cp-target"]), "running\n");
    } finally {
      await d.docker(["rm", "-f", "cp-hostile", "cp-target"]);
    }
  });

  it("archives a shared volume for docker cp without reading the host directory a swapped symlink points to", { timeout: 240_000 }, async () => {
    const canary = await newCanary();
    await hostile("cpo-hostile", "cpovol", flip("d", canary.dir, "mkdir -p d; echo inside > d/secret"));
    await ok(["run", "-d", "--name", "cpo-target", "-v", "cpovol:/data", "busybox", "sleep", "300"]);
    try {
      for (let i = 0; i < ROUNDS; i++) {
        for (const src of ["cpo-target:/data", "cpo-target:/data/d/.", "cpo-target:/data/d/secret"]) {
          const r = await d.docker(["cp", src, "-"]);
          assert.ok(!r.stdout.includes(secret), `docker cp ${src} - read the host's canary`);
        }
      }
      await canary.intact("docker cp out of the volume");
    } finally {
      await d.docker(["rm", "-f", "cpo-hostile", "cpo-target"]);
    }
  });

  it("copies image content into a new volume only inside it while a container sharing the volume swaps the new directory for a symlink", { timeout: 240_000 }, async () => {
    const canary = await newCanary();
    // An image whose /seed/d holds many files: the copy-up of /seed creates d, then fills it.
    await ok(["run", "--name", "seed-src", "busybox", "sh", "-c", "mkdir -p /seed/d; cd /seed/d; for i in $(seq 200); do echo seed > f$i; done"]);
    await ok(["commit", "seed-src", "seed"]);
    await ok(["rm", "seed-src"]);
    // Whenever a real directory d appears in the volume, it is moved away and replaced by a symlink to the canary.
    await hostile("cu-hostile", "cuvol", `cd /v; while :; do if [ -d d ] && [ ! -L d ]; then mv d o; ln -s ${canary.dir} d; rm -rf o; fi; done`);
    try {
      let copied = 0;
      for (let i = 0; i < ROUNDS; i++) {
        // Empty again, so that the next container's first mount copies the image's content in.
        await d.docker(["exec", "cu-hostile", "sh", "-c", "for i in 1 2 3; do rm -rf /v/d /v/o; done"]);
        const r = await d.docker(["run", "--rm", "-v", "cuvol:/seed", "seed", "true"]);
        if (r.code === 0) copied++;
        else assert.match(r.stderr, /failed to populate volume/);
      }
      await canary.intact("the copy-up into the volume");
      // The hostile loop may win every round (a copy-up that meets a swap fails, as it must). With the
      // attacker paused, the same copy-up must go through whole: the defence does not break copy-up itself.
      await ok(["exec", "cu-hostile", "sh", "-c", "for i in 1 2 3; do rm -rf /v/d /v/o; done"]);
      await ok(["pause", "cu-hostile"]);
      try {
        const r = await d.docker(["run", "--rm", "-v", "cuvol:/seed", "seed", "sh", "-c", "ls /seed/d | wc -l"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), "200", `the unattacked copy-up brought every file (${copied} of ${ROUNDS} attacked rounds got through)`);
      } finally {
        await d.docker(["unpause", "cu-hostile"]);
      }
    } finally {
      await d.docker(["rm", "-f", "cu-hostile"]);
      await d.docker(["rmi", "seed"]);
    }
  });

  it("mounts a volume subpath only from inside the volume while its parent is swapped for a symlink, for run and docker cp", { timeout: 240_000 }, async () => {
    const canary = await newCanary();
    // /v/a (holding sub/) flips between a real directory and a symlink to the canary (which holds sub/secret).
    await hostile("sp-hostile", "spvol", flip("a", canary.dir, "mkdir -p a/sub"));
    const mount = "type=volume,src=spvol,dst=/s,volume-subpath=a/sub";
    try {
      let mounted = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const r = await d.docker(["run", "--rm", "--mount", mount, "busybox", "sh", "-c", `cat /s/secret 2>/dev/null; touch /s/pwned-${i} && echo mounted`]);
        assert.ok(!r.stdout.includes(secret), "the container read the host's canary through the subpath mount");
        if (r.stdout.includes("mounted")) mounted++;
        else assert.match(r.stderr, /cannot access path|not a directory|no such file/, r.stderr);
      }
      assert.ok(mounted > 0, "no run could mount the subpath at all");
      await ok(["create", "--name", "sp-target", "--mount", mount, "busybox", "true"]);
      const input = await manyFilesTar("", 8);
      for (let i = 0; i < ROUNDS; i++) {
        const r = await d.docker(["cp", "sp-target:/s", "-"]);
        assert.ok(!r.stdout.includes(secret), "docker cp read the host's canary through the subpath mount");
        await d.docker(["cp", "-", "sp-target:/s"], { input });
      }
      await canary.intact("the subpath mount");
    } finally {
      await d.docker(["rm", "-f", "sp-hostile", "sp-target"]);
    }
  });
});
