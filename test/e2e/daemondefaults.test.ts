/**
 * daemon.json's container defaults, end to end against dockerd 20.10's
 * behaviour: "dns", "dns-search", "dns-opts" fill the parts of a container's
 * resolv.conf it does not set (on user networks the embedded DNS server forwards
 * to those servers), "default-ulimits" are merged into HostConfig.Ulimits at
 * create (inspect shows them) and apply to exec and build RUN steps, and
 * "default-address-pools" are where `docker network create` finds subnets.
 * Subnets 10.213.66.0/23 and the test server 10.213.66.53 are this file's own.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import { BERTHD, DOCKER, run, withDaemon } from "./harness.js";

describe("daemon.json dns, default-ulimits and default-address-pools", () => {
  const d = withDaemon({
    debug: false,
    prepare: () =>
      fs.writeFile(conf, JSON.stringify({
        dns: ["10.213.66.53"], "dns-search": ["corp.example"], "dns-opts": ["ndots:3"],
        "default-ulimits": { nofile: { Name: "nofile", Soft: 1234, Hard: 2345 } },
        "default-address-pools": [{ base: "10.213.66.0/23", size: 24 }],
      })),
    // --bip: the default bridge keeps Docker's subnet (were berth0 new here, it would take the pools' first).
    args: () => ["--config-file", conf, "--bip", "172.17.0.1/16"],
    teardown: async () => {
      for (const n of nets) await d.docker(["network", "rm", n]);
    },
  });
  const conf = path.join(d.dir, "daemon.json");
  const nets: string[] = [];

  const out = async (args: string[]) => {
    const r = await d.docker(args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it("a container on the default bridge gets the configured servers, search domains and options", async () => {
    assert.equal(await out(["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]), "search corp.example\nnameserver 10.213.66.53\noptions ndots:3\n");
  });

  it("host and none network modes get them too", async () => {
    for (const mode of ["host", "none"]) {
      assert.equal(await out(["run", "--rm", "--network", mode, "busybox", "cat", "/etc/resolv.conf"]), "search corp.example\nnameserver 10.213.66.53\noptions ndots:3\n", mode);
    }
  });

  it("each of --dns, --dns-search, --dns-option replaces only its own part", async () => {
    const r = await out(["run", "--rm", "--dns", "10.213.66.54", "busybox", "cat", "/etc/resolv.conf"]);
    assert.equal(r, "search corp.example\nnameserver 10.213.66.54\noptions ndots:3\n");
    const s = await out(["run", "--rm", "--dns-search", "x.example", "--dns-option", "ndots:1", "busybox", "cat", "/etc/resolv.conf"]);
    assert.equal(s, "search x.example\nnameserver 10.213.66.53\noptions ndots:1\n");
  });

  it("inspect keeps HostConfig.Dns empty and shows the default ulimits merged in, as dockerd 20.10", async () => {
    const id = (await out(["create", "--ulimit", "nproc=50:60", "busybox", "true"])).trim();
    const hc = JSON.parse(await out(["inspect", "-f", "{{json .HostConfig}}", id])) as { Dns: string[]; Ulimits: unknown };
    assert.deepEqual(hc.Dns, []);
    assert.deepEqual(hc.Ulimits, [{ Name: "nproc", Soft: 50, Hard: 60 }, { Name: "nofile", Soft: 1234, Hard: 2345 }]);
    await out(["rm", id]);
  });

  it("ulimit -n follows default-ulimits in run and exec, and --ulimit nofile overrides it", async () => {
    assert.equal(await out(["run", "--rm", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"]), "1234\n2345\n");
    assert.equal(await out(["run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"]), "100\n200\n");
    const id = (await out(["run", "-d", "busybox", "sleep", "300"])).trim();
    assert.equal(await out(["exec", id, "sh", "-c", "ulimit -n; ulimit -Hn"]), "1234\n2345\n");
    await out(["rm", "-f", id]);
  });

  it("a build's RUN step gets the default ulimits and DNS settings", async () => {
    const ctx = path.join(d.dir, "ctx");
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, "Dockerfile"), "FROM busybox\nRUN echo \"limits $(ulimit -n) $(ulimit -Hn)\" && grep -v '^#' /etc/resolv.conf\n");
    const r = await run(DOCKER, ["build", "--no-cache", ctx], { env: { ...d.env, DOCKER_BUILDKIT: "0" }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /limits 1234 2345\n/);
    assert.match(r.stdout, /search corp\.example\nnameserver 10\.213\.66\.53\noptions ndots:3\n/);
  });

  it("networks without --subnet get the pool's subnets in order; a full pool gives dockerd's error", async () => {
    for (const n of ["dd-a", "dd-b"]) {
      await out(["network", "create", n]);
      nets.push(n);
    }
    assert.equal(await out(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "dd-a", "dd-b"]), "10.213.66.0/24 10.213.66.1\n10.213.67.0/24 10.213.67.1\n");
    const r = await d.docker(["network", "create", "dd-c"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "Error response from daemon: could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
    // A subnet given by hand outside the pools is still fine.
    await out(["network", "create", "--subnet", "10.213.68.0/24", "dd-d"]);
    nets.push("dd-d");
  });

  it("on a user network the embedded DNS server is the nameserver and forwards to the configured servers", async () => {
    const id = (await out(["run", "-d", "--network", "dd-a", "busybox", "sleep", "300"])).trim();
    const r = await out(["exec", id, "cat", "/etc/resolv.conf"]);
    // Berth's file starts with a comment and names the server on the gateway (dockerd's on 127.0.0.11).
    assert.deepEqual(r.split("\n").filter((l) => l && !l.startsWith("#")).sort(), ["nameserver 10.213.66.1", "options ndots:3", "search corp.example"]);
    // The embedded server forwards names it does not know to the container's servers: the daemon's here.
    const cfg = await fs.readFile(path.join(d.execRoot, "network", "dns", "dd-a"), "utf8");
    assert.match(cfg, new RegExp(`^${id} 10\\.213\\.66\\.\\d+ .* 10\\.213\\.66\\.53$`, "m"));
    await out(["rm", "-f", id]);
  });
});

describe("berthd --default-ulimit", () => {
  const d = withDaemon({ debug: false });

  it("a container created before the default was configured gets it at its next start (dockerd merges again at start)", async () => {
    const c = await d.docker(["create", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"]);
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    await d.stop();
    await d.start(["--default-ulimit", "nofile=1234:2345"]);
    const r = await d.docker(["start", "-a", id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "1234\n2345\n");
    // Not recorded in the container created without it (as dockerd: only creation merges into HostConfig).
    assert.equal((await d.docker(["inspect", "-f", "{{json .HostConfig.Ulimits}}", id])).stdout.trim(), "[]");
  });
});

describe("berthd dns, default-ulimit and default-address-pool errors (dockerd's wording)", () => {
  let dir = "";
  before(async () => {
    dir = await fs.mkdtemp("/tmp/berth-dd-");
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const berthd = (args: string[]) => run(process.execPath, [BERTHD, "--data-root", path.join(dir, "data"), "--exec-root", path.join(dir, "x"), "-H", `unix://${path.join(dir, "s.sock")}`, ...args]);
  const withFile = async (json: unknown, args: string[]) => {
    const f = path.join(dir, "c.json");
    await fs.writeFile(f, JSON.stringify(json));
    return { f, r: await berthd(["--config-file", f, ...args]) };
  };

  it("dns and default-address-pools given as flags and in the file", async () => {
    const { f, r } = await withFile({ dns: ["10.213.66.53"], "default-address-pools": [{ base: "10.213.66.0/23", size: 24 }] }, ["--dns", "1.1.1.1", "--default-address-pool", "base=10.213.66.0/23,size=24", "--validate"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `berthd: unable to configure the Docker daemon with file ${f}: the following directives are specified both as a flag and in the configuration file: default-address-pools: (from flag: 10.213.66.0/23 24, from file: [map[base:10.213.66.0/23 size:24]]), dns: (from flag: [1.1.1.1], from file: [10.213.66.53])\n`);
    await assert.rejects(fs.stat(path.join(dir, "data")), "nothing was created");
  });

  it("a pool with a bad base or a size below its prefix is refused", async () => {
    const bad = await withFile({ "default-address-pools": [{ base: "10.213.66.0/33", size: 24 }] }, ["--validate"]);
    assert.equal(bad.r.code, 1);
    assert.equal(bad.r.stderr, `berthd: unable to configure the Docker daemon with file ${bad.f}: configuration validation from file failed: invalid base pool "10.213.66.0/33": invalid CIDR address: 10.213.66.0/33\n`);
    const small = await withFile({ "default-address-pools": [{ base: "10.213.66.0/23", size: 16 }] }, ["--validate"]);
    assert.equal(small.r.code, 1);
    assert.match(small.r.stderr, /configuration validation from file failed: invalid pools size: 16\n$/);
  });

  it("flag values are checked as dockerd checks them", async () => {
    const ul = await withFile({}, ["--default-ulimit", "nofile=3000:2000", "--validate"]);
    assert.equal(ul.r.code, 1);
    assert.match(ul.r.stderr, /ulimit soft limit must be less than or equal to hard limit: 3000 > 2000/);
    const dns = await withFile({}, ["--dns", "notanip", "--validate"]);
    assert.match(dns.r.stderr, /notanip is not an ip address/);
    const pool = await withFile({}, ["--default-address-pool", "base=10.213.66.0/23,sz=24", "--validate"]);
    assert.match(pool.r.stderr, /unexpected key 'sz' in 'sz=24'/);
  });
});
