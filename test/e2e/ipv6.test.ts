/**
 * Dual-stack user networks, proven with the real docker CLI against a private
 * berthd: `network create --ipv6 --subnet fd…/64` with its IPAM config as dockerd
 * 20.10 shows it, containers with an IPv6 address from the subnet (or --ip6) plus
 * their EUI-64 link-local, the IPv6 default route, /etc/hosts lines, inspect
 * fields, IPv6 traffic between containers and to the gateway, AAAA answers from
 * the embedded DNS, dockerd's messages for bad IPv6 subnets and addresses, and
 * nothing left on the host once the network is removed. Expected strings were
 * recorded from dockerd 20.10.24. Traffic stays inside the test's containers
 * and its own bridge.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { run, withDaemon } from "./harness.js";

// Unique-local prefixes no host interface uses (the test host's eth0 may hold fd00::/64).
const NET = "fd42:b6e1::/64";
const NET2 = "fd42:b6e2::/64";

describe("docker CLI against berthd: IPv6 (dual-stack) user networks", () => {
  const d = withDaemon({
    teardown: async () => {
      await d.docker(["rm", "-f", "v6a", "v6b", "v6c"]).catch(() => undefined);
      await d.docker(["network", "rm", "six", "six2", "sixoff"]).catch(() => undefined);
    },
  });
  const ok = async (args: string[]) => {
    const r = await d.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const fails = async (args: string[]) => {
    const r = await d.docker(args);
    assert.notEqual(r.code, 0, `docker ${args.join(" ")} should fail: ${r.stdout}`);
    return r.stderr.trim();
  };
  let bridge = "";

  it("creates a dual-stack network: an IPv4 pool beside the given IPv6 subnet, EnableIPv6 true, both gateways on the bridge", async () => {
    const id = await ok(["network", "create", "--ipv6", "--subnet", NET, "six"]);
    const n = JSON.parse(await ok(["network", "inspect", "six"])) as { EnableIPv6: boolean; IPAM: { Config: Record<string, string>[] } }[];
    assert.equal(n[0]?.EnableIPv6, true);
    const cfg = n[0]?.IPAM.Config ?? [];
    assert.equal(cfg.length, 2);
    assert.match(cfg[0]?.["Subnet"] ?? "", /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    // dockerd 20.10 shows no Gateway for an IPv6 subnet given without one.
    assert.deepEqual(cfg[1], { Subnet: NET });
    bridge = `br-${id.slice(0, 12)}`;
    const addrs = (await run("ip", ["-o", "-6", "addr", "show", "dev", bridge, "scope", "global"])).stdout;
    assert.match(addrs, /inet6 fd42:b6e1::1\/64 /);
    assert.equal(await ok(["network", "ls", "--filter", "name=six", "--format", "{{.Name}} {{.IPv6}}"]), "six true");
  });

  it("gives containers the lowest free IPv6 address or the --ip6 one, a link-local address, the IPv6 default route and hosts lines", async () => {
    await ok(["run", "-d", "--name", "v6a", "--network", "six", "busybox", "sleep", "600"]);
    await ok(["run", "-d", "--name", "v6b", "--network", "six", "--ip6", "fd42:b6e1::99", "busybox", "sleep", "600"]);
    const a = JSON.parse(await ok(["inspect", "-f", "{{json .NetworkSettings.Networks.six}}", "v6a"])) as Record<string, unknown>;
    assert.equal(a["GlobalIPv6Address"], "fd42:b6e1::2");
    assert.equal(a["GlobalIPv6PrefixLen"], 64);
    assert.equal(a["IPv6Gateway"], "fd42:b6e1::1");
    assert.equal(a["IPAMConfig"], null);
    const b = JSON.parse(await ok(["inspect", "-f", "{{json .NetworkSettings.Networks.six}}", "v6b"])) as Record<string, unknown>;
    assert.deepEqual(b["IPAMConfig"], { IPv6Address: "fd42:b6e1::99" });
    assert.equal(b["GlobalIPv6Address"], "fd42:b6e1::99");
    // Top-level fields describe the default bridge only: empty here, as in dockerd.
    assert.equal(await ok(["inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}|{{.NetworkSettings.LinkLocalIPv6Address}}", "v6a"]), "|");

    const mac = String(a["MacAddress"]);
    const m = mac.split(":").map((x) => parseInt(x, 16));
    const eui = [((m[0] ?? 0) ^ 2) * 256 + (m[1] ?? 0), (m[2] ?? 0) * 256 + 0xff, 0xfe00 + (m[3] ?? 0), (m[4] ?? 0) * 256 + (m[5] ?? 0)].map((x) => x.toString(16)).join(":");
    const inside = await ok(["exec", "v6a", "sh", "-c", "ip -6 addr show eth0; ip -6 route; cat /etc/hosts"]);
    assert.match(inside, /inet6 fd42:b6e1::2\/64 scope global/);
    assert.ok(inside.includes(`inet6 fe80::${eui.replace(/^0:/, "")}/64 scope link`), `link-local from ${mac}:\n${inside}`);
    assert.match(inside, /^default via fd42:b6e1::1 dev eth0/m);
    const host = await ok(["inspect", "-f", "{{.Config.Hostname}}", "v6a"]);
    assert.match(inside, new RegExp(`^${String(a["IPAddress"]).replace(/\./g, "\\.")}\\t${host}\\nfd42:b6e1::2\\t${host}$`, "m"));

    const members = JSON.parse(await ok(["network", "inspect", "-f", "{{json .Containers}}", "six"])) as Record<string, { Name: string; IPv6Address: string }>;
    assert.deepEqual(Object.values(members).map((c) => `${c.Name} ${c.IPv6Address}`).sort(), ["v6a fd42:b6e1::2/64", "v6b fd42:b6e1::99/64"]);
  });

  it("carries IPv6 traffic between containers and to the gateway, and the embedded DNS answers AAAA", async () => {
    assert.match(await ok(["exec", "v6a", "ping", "-6", "-c", "1", "-W", "5", "fd42:b6e1::99"]), /1 packets received/);
    assert.match(await ok(["exec", "v6a", "ping", "-6", "-c", "1", "-W", "5", "fd42:b6e1::1"]), /1 packets received/);
    const aaaa = await d.docker(["exec", "v6a", "nslookup", "-type=AAAA", "v6b"]);
    if (aaaa.stdout.includes("Address: fd42:b6e1::99")) {
      assert.match(await ok(["exec", "v6a", "ping", "-6", "-c", "1", "-W", "5", "v6b"]), /PING v6b \(fd42:b6e1::99\)/);
    } else {
      // Without aardvark-dns there is no embedded DNS at all (the daemon logs it): nothing to prove here.
      assert.match(await d.log(), /aardvark-dns not found/, aaaa.stdout + aaaa.stderr);
    }
  });

  it("connects a running container to a dual-stack network with --ip6", async () => {
    await ok(["run", "-d", "--name", "v6c", "busybox", "sleep", "600"]);
    await ok(["network", "connect", "--ip6", "fd42:b6e1::77", "six", "v6c"]);
    assert.match(await ok(["exec", "v6c", "ip", "-6", "addr", "show", "eth1"]), /inet6 fd42:b6e1::77\/64 scope global/);
    assert.equal(await ok(["inspect", "-f", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}} {{.NetworkSettings.Networks.six.IPv6Gateway}}", "v6c"]), "fd42:b6e1::77 fd42:b6e1::1");
    assert.match(await ok(["exec", "v6c", "ping", "-6", "-c", "1", "-W", "5", "fd42:b6e1::2"]), /1 packets received/);
  });

  it("answers bad IPv6 subnets, gateways and addresses with dockerd's messages", async () => {
    const daemon = (msg: string) => `Error response from daemon: ${msg}`;
    assert.equal(await fails(["network", "create", "--ipv6", "--subnet", "fd42:zz::/64", "bad6"]), daemon("Invalid subnet fd42:zz::/64 : invalid CIDR address: fd42:zz::/64"));
    assert.equal(await fails(["network", "create", "--ipv6", "--subnet", "fd42:b6e1::/80", "bad6"]), daemon("Pool overlaps with other one on this address space"));
    assert.equal(await fails(["network", "create", "--ipv6", "--subnet", "fd42:c1::/64", "--subnet", "fd42:c3::/64", "bad6"]), daemon("bridge driver doesn't support multiple subnets"));
    assert.equal(await fails(["network", "create", "--ipv6", "--subnet", "fd42:c1::/128", "bad6"]), daemon("failed to allocate gateway (): No available addresses on this pool"));
    assert.equal(await fails(["network", "create", "--ipv6", "--subnet", "fd42:c1::/64", "--gateway", "fd42:c1::", "bad6"]), daemon("failed to allocate gateway (fd42:c1::): Address already in use"));
    assert.equal(await fails(["network", "create", "--ipv6", "bad6"]), daemon("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"));
    assert.equal(await fails(["create", "--network", "six", "--ip6", "zz::2", "busybox", "true"]), daemon("invalid IPv6 address: zz::2"));
    await ok(["create", "--name", "out6", "--network", "six", "--ip6", "fd42:c9::2", "busybox", "true"]);
    assert.match(await fails(["start", "out6"]), /^Error response from daemon: Invalid address fd42:c9::2: It does not belong to any of this network's subnets/);
    await ok(["rm", "out6"]);
    await ok(["create", "--name", "dup6", "--network", "six", "--ip6", "fd42:b6e1::99", "busybox", "true"]);
    assert.match(await fails(["start", "dup6"]), /^Error response from daemon: Address already in use/);
    await ok(["rm", "dup6"]);
    assert.equal((await ok(["network", "ls", "-q", "--filter", "name=bad6"])), "");
  });

  it("keeps an IPv6 subnet given without --ipv6 in IPAM but gives neither the bridge nor containers an IPv6 address", async () => {
    const id = await ok(["network", "create", "--subnet", NET2, "sixoff"]);
    assert.equal(await ok(["network", "inspect", "-f", "{{.EnableIPv6}} {{len .IPAM.Config}}", "sixoff"]), "false 2");
    assert.equal((await run("ip", ["-o", "-6", "addr", "show", "dev", `br-${id.slice(0, 12)}`, "scope", "global"])).stdout, "");
    assert.equal(await ok(["run", "--rm", "--network", "sixoff", "busybox", "sh", "-c", "ip -6 addr show eth0 | grep -c inet6 || true"]), "0");
    await ok(["network", "rm", "sixoff"]);
  });

  it("removes the bridge and its addresses with the network, and frees the addresses of removed containers", async () => {
    await ok(["rm", "-f", "v6b"]);
    await ok(["run", "-d", "--name", "v6b", "--network", "six", "--ip6", "fd42:b6e1::99", "busybox", "sleep", "600"]);
    await ok(["rm", "-f", "v6a", "v6b", "v6c"]);
    await ok(["network", "rm", "six"]);
    assert.equal((await run("ip", ["link", "show", bridge])).code === 0, false, `${bridge} still exists`);
    assert.doesNotMatch((await run("ip", ["-o", "-6", "addr", "show"])).stdout, /fd42:b6e1::/);
  });
});
