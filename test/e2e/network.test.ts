/**
 * Networking, proven with the real docker CLI against a private berthd: the
 * default bridge with a published port answering the host, a port conflict
 * that leaves nothing behind, user networks with names, aliases and isolation,
 * none/host/container modes, connect/disconnect, a daemon restart, and a host
 * with no veth, bridge, NAT rule, netns or mount left at the end.
 * Traffic goes only to 127.0.0.1 and to the containers the test creates.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Daemon, leftovers, run, withDaemon } from "./harness.js";
import { chainNames } from "../../src/network/index.js";

const PORT = 18080;

function httpGet(port: number, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: timeoutMs }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Poll until the server answers (bounded). */
async function httpGetEventually(port: number, tries = 50): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await httpGet(port);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no answer on 127.0.0.1:${port}: ${String(last)}`);
}

async function hostLinkNames(): Promise<string[]> {
  const r = await run("ip", ["-o", "link", "show"]);
  return r.stdout.split("\n").map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "").filter(Boolean);
}

/** `-A` rules of the daemon's own chains, per chain. */
async function chainRules(d: Daemon): Promise<Record<string, string[]>> {
  const names = chainNames(d.execRoot);
  const save = (await run("iptables-save", [])).stdout.split("\n");
  const out: Record<string, string[]> = {};
  for (const c of Object.values(names)) out[c] = save.filter((l) => l.startsWith(`-A ${c} `));
  return out;
}

describe("docker CLI against berthd: networking", () => {
  const d = withDaemon({
    teardown: async () => {
      await d.docker(["rm", "-f", "web", "srv", "joiner", "other"]).catch(() => undefined);
    },
  });
  const vethNames = new Set<string>();
  const bridges = new Set<string>();
  const started = Math.floor(Date.now() / 1000);

  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await d.docker(args, timeoutMs ? { timeoutMs } : {});
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** Remember a running container's host-side veths (named after the endpoint ids) for the final count. */
  const noteEndpoints = async (name: string) => {
    const ids = await ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.EndpointID}} {{end}}", name]);
    for (const id of ids.split(/\s+/).filter(Boolean)) vethNames.add(`veth${id.slice(0, 7)}`);
  };

  it("publishes a port on 127.0.0.1 that busybox httpd answers from the host", async () => {
    await ok(["run", "-d", "--name", "web", "-p", `127.0.0.1:${PORT}:80`, "busybox", "sh", "-c", "mkdir -p /www && echo hello from berth > /www/index.html && exec httpd -f -p 80 -h /www"]);
    const res = await httpGetEventually(PORT);
    assert.equal(res.status, 200);
    assert.equal(res.body, "hello from berth\n");
    assert.equal(await ok(["port", "web"]), `80/tcp -> 127.0.0.1:${PORT}`); // reference: dockerd 20.10
    assert.match(await ok(["ps", "--format", "{{.Names}} {{.Ports}}"]), new RegExp(`^web 127\\.0\\.0\\.1:${PORT}->80/tcp$`, "m")); // reference: dockerd 20.10
    const ns = JSON.parse(await ok(["inspect", "-f", "{{json .NetworkSettings}}", "web"])) as Record<string, unknown> & { Networks: Record<string, Record<string, unknown>> };
    const br = ns.Networks["bridge"] as Record<string, unknown>;
    assert.match(String(ns["IPAddress"]), /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(br["IPAddress"], ns["IPAddress"]);
    assert.equal(br["Gateway"], ns["Gateway"]);
    assert.equal(ns["IPPrefixLen"], br["IPPrefixLen"]);
    const ipHex = String(ns["IPAddress"]).split(".").map((x) => Number(x).toString(16).padStart(2, "0")).join(":");
    assert.equal(ns["MacAddress"], `02:42:${ipHex}`); // reference: dockerd 20.10
    assert.match(String(br["EndpointID"]), /^[0-9a-f]{64}$/);
    assert.deepEqual(ns["Ports"], { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(PORT) }] }); // reference: dockerd 20.10
    const inside = await ok(["exec", "web", "sh", "-c", "ip -o -4 addr show eth0; cat /etc/hosts"]);
    assert.match(inside, new RegExp(`inet ${String(ns["IPAddress"]).replace(/\./g, "\\.")}/`));
    assert.match(inside, new RegExp(`^${String(ns["IPAddress"]).replace(/\./g, "\\.")}\\s+[0-9a-f]{12}$`, "m"));
    await noteEndpoints("web");
    // Another container reaches the published port through the host (hairpin NAT) and the container directly.
    const gw = String(ns["Gateway"]);
    const viaIp = await d.docker(["run", "--rm", "-i", "busybox", "sh", "-c", `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${String(ns["IPAddress"])} 80`]);
    assert.equal(viaIp.code, 0, viaIp.stderr);
    assert.match(viaIp.stdout, /hello from berth/);
    assert.match(gw, /^\d+\.\d+\.\d+\.1$/);
  });

  it("refuses a host port that is taken, with Docker's error and no rule left behind", async () => {
    const before = await chainRules(d);
    const dnat = chainNames(d.execRoot).dnat;
    assert.equal(before[dnat]?.length, 1, `one DNAT rule for web: ${JSON.stringify(before)}`);
    const r = await d.docker(["run", "--rm", "-p", `127.0.0.1:${PORT}:80`, "busybox", "true"]);
    assert.equal(r.code, 125);
    // reference: dockerd 20.10 (Berth prefixes moby 26+'s "failed to set up container networking: ")
    assert.match(r.stderr, new RegExp(`Bind for 127\\.0\\.0\\.1:${PORT} failed: port is already allocated`));
    // A port held by a host process.
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const r2 = await d.docker(["run", "--rm", "-p", `127.0.0.1:${taken}:80`, "busybox", "true"]);
      assert.equal(r2.code, 125);
      // reference: dockerd 20.10 says "Error starting userland proxy: listen tcp4 127.0.0.1:N: bind: address already in use";
      // Berth binds the port itself and keeps moby 27+'s "failed to bind host port for 127.0.0.1:N:<ip>:80/tcp: address already in use".
      assert.match(r2.stderr, new RegExp(`127\\.0\\.0\\.1:${taken}.*address already in use`));
    } finally {
      holder.close();
    }
    assert.deepEqual(await chainRules(d), before);
    assert.deepEqual((await fs.readdir(path.join(d.execRoot, "netns"))).length, 1, "only web's namespace");
    assert.equal(await ok(["ps", "-aq"]), (await ok(["ps", "-q"])));
    // The first mapping still works.
    assert.equal((await httpGet(PORT)).body, "hello from berth\n");
  });

  it("resolves containers by name and alias on a user network; another network cannot reach them", async () => {
    const idA = await ok(["network", "create", "--label", "purpose=test", "nta"]);
    const idB = await ok(["network", "create", "--subnet", "10.231.7.0/24", "--gateway", "10.231.7.254", "ntb"]);
    bridges.add(`br-${idA.slice(0, 12)}`).add(`br-${idB.slice(0, 12)}`);
    const links = await hostLinkNames();
    assert.ok(links.includes(`br-${idA.slice(0, 12)}`), "a bridge per network");
    const ls = await ok(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for (const n of ["bridge bridge", "host host", "none null", "nta bridge", "ntb bridge"]) assert.match(ls, new RegExp(`^${n}$`, "m")); // reference: dockerd 20.10
    assert.equal(await ok(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "ntb"]), "10.231.7.0/24 10.231.7.254"); // reference: dockerd 20.10

    await ok(["run", "-d", "--name", "srv", "--network", "nta", "--network-alias", "db", "busybox", "sleep", "120"]);
    await noteEndpoints("srv");
    const srvIp = await ok(["inspect", "-f", "{{.NetworkSettings.Networks.nta.IPAddress}}", "srv"]);
    assert.match(srvIp, /^\d+\.\d+\.\d+\.\d+$/);
    const dnsNames = await ok(["inspect", "-f", "{{json .NetworkSettings.Networks.nta.DNSNames}}", "srv"]);
    assert.match(dnsNames, /"srv".*"db"/); // DNSNames came with API 1.44: dockerd 20.10 (1.41) has none to compare
    const same = await d.docker(["run", "--rm", "--network", "nta", "busybox", "sh", "-c", "ping -c1 -W2 srv && ping -c1 -W2 db && nslookup srv"]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, new RegExp(`PING srv \\(${srvIp.replace(/\./g, "\\.")}\\)`));
    assert.match(same.stdout, new RegExp(`PING db \\(${srvIp.replace(/\./g, "\\.")}\\)`));
    const netInspect = JSON.parse(await ok(["network", "inspect", "nta"])) as { Containers: Record<string, { Name: string; IPv4Address: string }>; Labels: Record<string, string> }[];
    assert.equal(netInspect[0]?.Labels["purpose"], "test");
    assert.deepEqual(Object.values(netInspect[0]?.Containers ?? {}).map((c) => c.Name), ["srv"]);

    const other = await d.docker(["run", "--rm", "--network", "ntb", "busybox", "sh", "-c", `ip -o -4 addr show eth0; ping -c1 -W1 ${srvIp} && echo REACHED; nslookup srv >/dev/null 2>&1 && echo RESOLVED; true`]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /inet 10\.231\.7\.\d+\/24/);
    assert.doesNotMatch(other.stdout, /REACHED/);
    assert.doesNotMatch(other.stdout, /RESOLVED/);
    // The default bridge does not reach the user network either.
    const fromBridge = await d.docker(["run", "--rm", "busybox", "sh", "-c", `ping -c1 -W1 ${srvIp} && echo REACHED; true`]);
    assert.doesNotMatch(fromBridge.stdout, /REACHED/);

    // A rename is resolvable at once under the new name, and the old one is gone.
    await ok(["rename", "srv", "srv2"]);
    const renamed = await d.docker(["run", "--rm", "--network", "nta", "busybox", "sh", "-c", "ping -c1 -W2 srv2 >/dev/null && echo NEW; nslookup srv >/dev/null 2>&1 && echo OLD; true"]);
    assert.equal(renamed.stdout.trim(), "NEW", renamed.stderr);
    await ok(["rename", "srv2", "srv"]);
  });

  it("connects a running container to a second network and disconnects it", async () => {
    await ok(["network", "connect", "--alias", "second", "ntb", "srv"]);
    await noteEndpoints("srv");
    const addrs = await ok(["exec", "srv", "ip", "-o", "-4", "addr"]);
    assert.match(addrs, /eth1\s+inet 10\.231\.7\.\d+\/24/);
    const r = await d.docker(["run", "--rm", "--network", "ntb", "busybox", "ping", "-c1", "-W2", "second"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const again = await d.docker(["network", "connect", "ntb", "srv"]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /Error response from daemon: endpoint with name srv already exists in network ntb/); // reference: dockerd 20.10
    await ok(["network", "disconnect", "ntb", "srv"]);
    assert.doesNotMatch(await ok(["exec", "srv", "ip", "-o", "link"]), /eth1/);
    const rm = await d.docker(["network", "rm", "nta"]);
    assert.notEqual(rm.code, 0);
    // reference: dockerd 20.10 (the conformance suite's networks/remove-and-prune holds Berth to the same text)
    assert.match(rm.stderr, /error while removing network: network nta id [0-9a-f]{64} has active endpoints/);
    const ev = await ok(["events", "--since", String(started), "--until", String(Math.ceil(Date.now() / 1000) + 1), "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
    for (const a of ["create nta", "connect nta", "connect ntb", "disconnect ntb"]) assert.match(ev, new RegExp(`^${a}$`, "m")); // reference: dockerd 20.10
  });

  it("resolves --add-host NAME:host-gateway to the default bridge's gateway, as dockerd does", async () => {
    const gw = (await d.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge"])).stdout.trim();
    assert.match(gw, /^\d+\.\d+\.\d+\.\d+$/);
    const r = await d.docker(["run", "--rm", "--add-host", "host.docker.internal:host-gateway", "busybox", "grep", "host.docker.internal", "/etc/hosts"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split(/\s+/).join(" "), `${gw} host.docker.internal`); // reference: dockerd 20.10
  });

  it("sets legacy link variables for --link on the default bridge (the container's own variables win)", async () => {
    await ok(["run", "-d", "--name", "linkdb", "--expose", "5432", "-e", "POSTGRES_DB=app", "busybox", "sleep", "60"]);
    const ip = await ok(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "linkdb"]);
    const r = await d.docker(["run", "--rm", "--name", "linkweb", "--link", "linkdb:db", "-e", "DB_ENV_POSTGRES_DB=mine", "busybox", "env"]);
    assert.equal(r.code, 0, r.stderr);
    const env = r.stdout.split("\n");
    // reference: dockerd 20.10
    for (const want of [`DB_PORT=tcp://${ip}:5432`, `DB_PORT_5432_TCP_ADDR=${ip}`, "DB_PORT_5432_TCP_PROTO=tcp", "DB_NAME=/linkweb/db", "DB_ENV_POSTGRES_DB=mine"]) {
      assert.ok(env.includes(want), `${want} in ${r.stdout}`);
    }
    await ok(["rm", "-f", "linkdb"]);
  });

  it("gives --network none only a loopback interface", async () => {
    const r = await d.docker(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ip -o link | cut -d: -f2 | tr -d ' '; ip -o link show lo | grep -c UP"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "lo\n1\n"); // reference: dockerd 20.10
  });

  it("shows the host's interfaces and hostname to --network host", async () => {
    const r = await d.docker(["run", "--rm", "--network", "host", "busybox", "sh", "-c", "ip -o link | cut -d: -f2 | tr -d ' ' | cut -d@ -f1; echo host=$(hostname)"]);
    assert.equal(r.code, 0, r.stderr);
    const inside = r.stdout.split("\n").filter((l) => l && !l.startsWith("host="));
    const host = (await hostLinkNames()).filter((n) => !n.startsWith("veth"));
    for (const n of host.filter((x) => !x.startsWith("br-"))) assert.ok(inside.includes(n), `${n} visible inside: ${inside.join(",")}`);
    assert.match(r.stdout, new RegExp(`^host=${os.hostname()}$`, "m"));
  });

  it("joins another container's namespace with --network container:<name>", async () => {
    const srvIp = await ok(["inspect", "-f", "{{.NetworkSettings.Networks.nta.IPAddress}}", "srv"]);
    const r = await d.docker(["run", "--rm", "--network", "container:srv", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`inet ${srvIp.replace(/\./g, "\\.")}/`));
  });

  it("keeps ports and names working while berthd is down, and after it restarts", async () => {
    await d.kill9();
    assert.equal((await httpGet(PORT)).body, "hello from berth\n");
    await d.start();
    assert.equal((await httpGet(PORT)).body, "hello from berth\n");
    assert.equal(await ok(["port", "web"]), `80/tcp -> 127.0.0.1:${PORT}`);
    const r = await d.docker(["run", "--rm", "--network", "nta", "busybox", "ping", "-c1", "-W2", "db"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Addresses survive the restart: a new container gets a different one.
    const webIp = await ok(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    const fresh = await ok(["run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0"]);
    assert.doesNotMatch(fresh, new RegExp(`inet ${webIp.replace(/\./g, "\\.")}/`));
  });

  it("reports network events and prunes networks no container uses", async () => {
    const pr = await ok(["network", "create", "prunable"]);
    bridges.add(`br-${pr.slice(0, 12)}`);
    const out = await ok(["network", "prune", "-f"]);
    assert.match(out, /^prunable$/m); // reference: dockerd 20.10
    assert.match(out, /^ntb$/m, "srv left ntb: unused");
    assert.doesNotMatch(out, /nta/);
    const ev = await ok(["events", "--since", String(started), "--until", String(Math.ceil(Date.now() / 1000) + 1), "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
    for (const a of ["create prunable", "destroy ntb", "destroy prunable"]) assert.match(ev, new RegExp(`^${a}$`, "m"));
  });

  it("gives bridges a MAC address of their own, which containers coming and going do not move (as dockerd does)", async () => {
    const nta = await ok(["network", "inspect", "-f", "{{.Id}}", "nta"]);
    const sys = (b: string, f: string) => fs.readFile(`/sys/class/net/${b}/${f}`, "utf8").then((x) => x.trim());
    // 3 = NET_ADDR_SET; 1 (random) would follow the lowest MAC of the bridge's ports, and containers'
    // ARP entries for the gateway would go stale.
    for (const b of ["berth0", `br-${nta.slice(0, 12)}`]) assert.equal(await sys(b, "addr_assign_type"), "3", `${b}: its address is set, not the kernel's pick`);
    const mac = await sys("berth0", "address");
    assert.equal(await ok(["run", "--rm", "busybox", "true"]), "");
    assert.equal(await sys("berth0", "address"), mac);
  });

  it("leaves no veth, bridge, NAT rule, netns, DNS server or mount once containers and networks are gone", async () => {
    await ok(["rm", "-f", "web", "srv"]);
    await ok(["network", "rm", "nta"]);
    assert.equal(await ok(["ps", "-aq"]), "");
    assert.equal(await ok(["network", "ls", "-q", "--filter", "type=custom"]), "");

    // Veths die with their namespace (asynchronously in the kernel): allow a moment.
    let links = await hostLinkNames();
    for (let i = 0; i < 50 && [...vethNames].some((v) => links.includes(v)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      links = await hostLinkNames();
    }
    assert.ok(vethNames.size >= 3, `endpoints seen: ${[...vethNames].join(",")}`);
    for (const v of vethNames) assert.ok(!links.includes(v), `veth ${v} left`);
    for (const b of bridges) assert.ok(!links.includes(b), `bridge ${b} left`);
    assert.ok(links.includes("berth0"), "the default bridge stays");

    const rules = await chainRules(d);
    const n = chainNames(d.execRoot);
    assert.deepEqual(rules[n.dnat], [], "no DNAT rule");
    assert.deepEqual(rules[n.raw], [], "no raw drop for a loopback port");
    for (const r of [...(rules[n.forward] ?? []), ...(rules[n.postrouting] ?? [])]) assert.match(r, / berth0 /, `only default-bridge rules remain: ${r}`);

    assert.deepEqual(await fs.readdir(path.join(d.execRoot, "netns")), []);
    const lo = await leftovers(d);
    assert.deepEqual(lo.mounts, []);
    assert.deepEqual(lo.runtime, []);
    const dnsDir = path.join(d.execRoot, "network", "dns");
    assert.deepEqual((await fs.readdir(dnsDir).catch(() => [] as string[])).filter((f) => f !== ".gitkeep"), []);
    for (const pid of await fs.readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      assert.ok(!(cmd.includes("aardvark-dns") && cmd.includes(d.execRoot)), `aardvark-dns ${pid} still running`);
    }
    const leaseRoot = "/run/berth-net/leases";
    if (existsSync(leaseRoot)) {
      for (const b of await fs.readdir(leaseRoot)) {
        for (const ip of await fs.readdir(path.join(leaseRoot, b)).catch(() => [] as string[])) {
          const owner = await fs.readFile(path.join(leaseRoot, b, ip), "utf8").catch(() => "");
          assert.ok(!owner.startsWith(`${d.execRoot}\n`), `lease ${b}/${ip} left`);
        }
      }
    }
  });
});
