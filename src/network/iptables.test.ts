import { test } from "node:test";
import assert from "node:assert/strict";
import { chainNames, jumpRules, renderChains, scanSave } from "./iptables.js";

test("names the default daemon's chains BERTH…, others' with a suffix of their exec-root", () => {
  assert.deepEqual(chainNames("/run/berth"), { dnat: "BERTH", postrouting: "BERTH-POSTROUTING", forward: "BERTH-FORWARD", input: "BERTH-INPUT", raw: "BERTH-RAW" });
  const t = chainNames("/tmp/bt-x/x");
  assert.match(t.dnat, /^BERTH-[0-9a-f]{6}$/);
  assert.ok(Object.values(t).every((c) => c.length <= 28), "iptables chain names are at most 28 characters");
  assert.notDeepEqual(chainNames("/tmp/a"), chainNames("/tmp/b"));
});

test("renders DNAT for published ports, masquerade per bridge and isolation between bridges", () => {
  const n = chainNames("/run/berth");
  const { nat, filter } = renderChains(n, {
    bridges: [
      { name: "berth0", subnet: "172.17.0.0/16", internal: false },
      { name: "br-abc", subnet: "172.18.0.0/16", internal: true },
    ],
    ports: [
      { bridge: "berth0", proto: "tcp", containerIp: "172.17.0.2", containerPort: 80, hostIp: "127.0.0.1", hostPort: 18080 },
      { bridge: "berth0", proto: "udp", containerIp: "172.17.0.2", containerPort: 53, hostIp: "0.0.0.0", hostPort: 5353 },
      { bridge: "br-abc", proto: "tcp", containerIp: "172.18.0.2", containerPort: 80, hostIp: "0.0.0.0", hostPort: 9999 },
    ],
  });
  assert.equal(nat[0], ":BERTH - [0:0]", "the chain is declared (created or flushed) first");
  assert.ok(nat.includes("-A BERTH -d 127.0.0.1/32 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 172.17.0.2:80"));
  assert.ok(nat.includes("-A BERTH -p udp -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53"));
  assert.ok(!nat.some((l) => l.includes("9999")), "no publishing on an internal network");
  assert.ok(nat.includes("-A BERTH-POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE"));
  assert.ok(!nat.includes("-A BERTH-POSTROUTING -s 172.18.0.0/16 ! -o br-abc -j MASQUERADE"), "internal networks are not NATed out");
  assert.ok(filter.includes("-A BERTH-FORWARD -i berth0 -o br-+ -j DROP"));
  assert.ok(filter.includes("-A BERTH-FORWARD -i br-abc ! -o br-abc -j DROP"));
  const accept = filter.indexOf("-A BERTH-FORWARD -d 172.17.0.2/32 -o berth0 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -j ACCEPT");
  assert.ok(accept >= 0 && accept < filter.indexOf("-A BERTH-FORWARD -i berth0 -o br-+ -j DROP"), "published ports pass before isolation");
  assert.ok(!filter.some((l) => /-P (FORWARD|INPUT)/.test(l)), "policies are never touched");
});

test("drops remote packets for ports published on a loopback address, in raw PREROUTING, and only those", () => {
  const n = chainNames("/run/berth");
  const port = (hostIp: string, hostPort: number, proto = "tcp") => ({ bridge: "berth0", proto, containerIp: "172.17.0.2", containerPort: 80, hostIp, hostPort });
  const { raw } = renderChains(n, {
    bridges: [{ name: "berth0", subnet: "172.17.0.0/16", internal: false }],
    ports: [port("127.0.0.1", 8080), port("127.0.0.2", 5353, "udp"), port("0.0.0.0", 9090), port("192.0.2.10", 9091)],
  });
  assert.deepEqual(raw, [
    ":BERTH-RAW - [0:0]",
    "-A BERTH-RAW -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP",
    "-A BERTH-RAW -d 127.0.0.2/32 ! -i lo -p udp -m udp --dport 5353 -j DROP",
  ]);
  assert.deepEqual(renderChains(n, { bridges: [], ports: [] }).raw, [":BERTH-RAW - [0:0]"], "no port, an empty chain");
});

test("finds jumps of daemons whose exec-root vanished, and our own jumps", async () => {
  const mine = chainNames("/run/berth");
  const gone = chainNames("/tmp/gone");
  const save = [
    "*nat",
    `:${gone.dnat} - [0:0]`,
    `-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "berth:/tmp/gone" -j ${gone.dnat}`,
    `-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "berth:/run/berth" -j ${mine.dnat}`,
    "-A PREROUTING -j DOCKER",
    "COMMIT",
    "*filter",
    `-A FORWARD -m comment --comment "berth:/tmp/gone" -j ${gone.forward}`,
    "COMMIT",
    "*raw",
    `-A PREROUTING -m comment --comment "berth:/tmp/gone" -j ${gone.raw}`,
    '-A PREROUTING -i berth0 -d 127.0.0.0/8 -m comment --comment "berth loopback guard" -j DROP',
    "COMMIT",
  ].join("\n");
  const scan = await scanSave(save, async (root) => root === "/run/berth");
  assert.ok(scan.jumpsTo.has(`nat/${mine.dnat}`));
  assert.deepEqual(scan.stale.nat, [`-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "berth:/tmp/gone" -j ${gone.dnat}`]);
  assert.deepEqual(scan.stale.filter, [`-D FORWARD -m comment --comment "berth:/tmp/gone" -j ${gone.forward}`]);
  assert.deepEqual(scan.stale.raw, [`-D PREROUTING -m comment --comment "berth:/tmp/gone" -j ${gone.raw}`], "a bridge's loopback guard is no daemon's");
  assert.deepEqual(scan.stale.chains, [{ table: "nat", chain: gone.dnat }, { table: "filter", chain: gone.forward }, { table: "raw", chain: gone.raw }]);
});

test("jumps into the daemon's chains carry its exec-root; FORWARD and INPUT jumps go first", () => {
  const j = jumpRules(chainNames("/run/berth"), "/run/berth");
  assert.deepEqual(j.map((x) => `${x.table} ${x.chain} ${x.top}`), ["nat PREROUTING false", "nat OUTPUT false", "nat POSTROUTING false", "filter FORWARD true", "filter INPUT true", "raw PREROUTING true"]);
  assert.ok(j.every((x) => x.spec.includes('--comment "berth:/run/berth"')));
});
