/**
 * Loopback stays loopback (the CVE-2020-8558 class). Berth takes a port published
 * on 127.0.0.1 to its container in the kernel (DNAT, with route_localnet on its
 * bridges), so packets addressed to 127.0.0.0/8 that arrive from a bridge or from
 * the LAN must be dropped before they reach a host service or a container:
 *
 *   - an attacker in a container's network namespace routes 127.0.0.1 via its
 *     gateway (the test is root there: it stands for a container with the default
 *     CAP_NET_RAW, which can put any frame on the wire) and targets a host service
 *     listening on 127.0.0.1 only, and a port published on 127.0.0.1;
 *   - a LAN neighbour (a namespace on a veth pair the test makes, not on a bridge)
 *     routes 127.0.0.1 via the host and targets the published port;
 *
 * while the host's own loopback still reaches the published port. Each attack has a
 * control over the same path (a listener on the gateway or veth address) that must
 * succeed, so a broken set-up cannot pass for a blocked attack. Traffic stays on
 * loopback, the test's containers and the namespace it made; every namespace, veth
 * and listener it makes is removed at the end.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import { readFileSync } from "node:fs";
import { Daemon, run, withDaemon } from "./harness.js";
import { chainNames } from "../../src/network/index.js";
import { messageOf } from "../../src/util/errors.js";

const GUARD = "berth loopback guard";

/** A TCP listener that counts connections and answers each with a word. */
async function tcpListener(host: string, word: string): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const srv = net.createServer((s) => {
    hits++;
    s.on("error", () => undefined);
    s.end(`${word}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, host, resolve);
  });
  return { port: (srv.address() as net.AddressInfo).port, hits: () => hits, close: () => new Promise((r) => srv.close(() => r())) };
}

/** A UDP socket that records the datagrams it gets. */
async function udpListener(host: string): Promise<{ port: number; got: string[]; next: (word: string) => Promise<void>; close: () => void }> {
  const sock = dgram.createSocket("udp4");
  const got: string[] = [];
  const waiters: { word: string; resolve: () => void }[] = [];
  sock.on("message", (m) => {
    const w = m.toString().trim();
    got.push(w);
    for (const x of waiters.splice(0)) if (x.word === w) x.resolve();
    else waiters.push(x);
  });
  await new Promise<void>((resolve) => sock.bind(0, host, resolve));
  return {
    port: sock.address().port,
    got,
    next: (word) => (got.includes(word) ? Promise.resolve() : new Promise((resolve) => waiters.push({ word, resolve }))),
    close: () => sock.close(),
  };
}

/** p, or a rejection naming what did not happen within ms. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Run a shell script in a network namespace (a bind-mounted file or /proc/<pid>/ns/net) with the host's tools. */
async function inNetns(ns: string, script: string): Promise<{ code: number; out: string }> {
  const r = await run("nsenter", [`--net=${ns}`, "sh", "-c", script], { timeoutMs: 30_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

/**
 * The attacker's routing: 127.0.0.1 goes out `dev` to `gw` (a rule ahead of the
 * local table), and answers from 127.0.0.1 are accepted on `dev`. The gateway's
 * MAC address is pinned (the host interface `hostIf`): other engines' and tests'
 * namespaces share berth0 and must not answer ARP for it in our place.
 */
function loopbackViaScript(dev: string, gw: string, hostIf: string): string {
  const mac = readFileSync(`/sys/class/net/${hostIf}/address`, "utf8").trim();
  return [
    `ip neigh replace ${gw} lladdr ${mac} dev ${dev} nud permanent`,
    `echo 1 > /proc/sys/net/ipv4/conf/${dev}/route_localnet`,
    "ip rule add pref 10 to 127.0.0.1/32 lookup 100",
    `ip route add 127.0.0.1/32 via ${gw} dev ${dev} table 100`,
    "ip rule add pref 20 lookup local",
    "ip rule del pref 0",
  ].join(" && ");
}

/** TCP from a namespace: what `busybox nc` read back (empty when nothing answered within 2 s). */
async function tcpFrom(ns: string, host: string, port: number, send = ""): Promise<string> {
  const r = await inNetns(ns, `printf '${send}' | busybox nc -w 2 ${host} ${port} 2>/dev/null; true`);
  return r.out;
}

/** One datagram from a namespace (python3: busybox's nc has no UDP mode). */
async function udpFrom(ns: string, host: string, port: number, word: string): Promise<void> {
  const r = await inNetns(ns, `python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))' ${word} ${host} ${port}`);
  assert.equal(r.code, 0, r.out);
}

/** Raw PREROUTING rules that guard a bridge's 127.0.0.0/8 (one per bridge, whoever added it). */
async function guardsFor(bridge: string): Promise<string[]> {
  const save = (await run("iptables-save", ["-t", "raw"])).stdout.split("\n");
  return save.filter((l) => l.startsWith("-A PREROUTING ") && l.includes(` -i ${bridge} `) && l.includes(`"${GUARD}"`));
}

describe("loopback stays loopback: containers and LAN neighbours cannot reach 127.0.0.1", () => {
  const d = withDaemon({
    teardown: async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await d.docker(["rm", "-f", "web", "atk", "atk2"]).catch(() => undefined);
      await d.docker(["network", "rm", net1]).catch(() => undefined);
    },
  });
  const tag = randomBytes(3).toString("hex");
  const lan = { ns: `blb-${tag}`, host: `blb${tag}h`, peer: `blb${tag}n`, net: `198.18.${randomBytes(1)[0] ?? 7}` };
  const net1 = `lbnet-${tag}`;
  let port = 0;
  let userBridge = "";
  const cleanups: (() => Promise<unknown>)[] = [];
  const ok = async (args: string[]) => {
    const r = await d.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const netnsOf = async (name: string) => `/proc/${await ok(["inspect", "-f", "{{.State.Pid}}", name])}/ns/net`;

  before(async () => {
    port = await freePort();
    await ok(["run", "-d", "--name", "web", "-p", `127.0.0.1:${port}:80`, "busybox", "sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]);
    await ok(["run", "-d", "--name", "atk", "busybox", "sleep", "600"]);
    const id = await ok(["network", "create", net1]);
    userBridge = `br-${id.slice(0, 12)}`;
    await ok(["run", "-d", "--name", "atk2", "--network", net1, "busybox", "sleep", "600"]);
  });

  it("reaches a port published on 127.0.0.1 from the host's loopback", async () => {
    let body = "";
    for (let i = 0; i < 50 && body === ""; i++) body = await httpGet(port).catch(() => new Promise<string>((r) => setTimeout(() => r(""), 100)));
    assert.equal(body, "hello from web\n");
    const curl = await run("curl", ["-s", "--max-time", "5", `http://127.0.0.1:${port}/`]);
    assert.equal(curl.stdout, "hello from web\n");
  });

  for (const [who, netName] of [["a container on the default bridge", "bridge"], ["a container on a user network", "user"]] as const) {
    it(`drops what ${who} routes to the host's 127.0.0.1: a loopback-only service and the published port stay out of reach`, async () => {
      const ctr = netName === "bridge" ? "atk" : "atk2";
      const bridge = netName === "bridge" ? "berth0" : userBridge;
      const gw = await ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}", ctr]);
      const ns = await netnsOf(ctr);
      const secret = await tcpListener("127.0.0.1", "secret");
      const control = await tcpListener(gw, "control");
      const uSecret = await udpListener("127.0.0.1");
      const uControl = await udpListener(gw);
      try {
        const r = await inNetns(ns, loopbackViaScript("eth0", gw, bridge));
        assert.equal(r.code, 0, r.out);
        // The path works: the host answers on the gateway address.
        assert.equal(await tcpFrom(ns, gw, control.port), "control\n");
        assert.match((await inNetns(ns, "ip route get 127.0.0.1")).out, new RegExp(`via ${gw.replace(/\./g, "\\.")} dev eth0`));

        assert.equal(await tcpFrom(ns, "127.0.0.1", secret.port), "", "the host's loopback-only service answered a container");
        assert.equal(secret.hits(), 0);
        assert.doesNotMatch(await tcpFrom(ns, "127.0.0.1", port, "GET / HTTP/1.0\\r\\n\\r\\n"), /hello from web/, "the 127.0.0.1 port answered a container");
        // A datagram sent before the control one over the same path would have arrived first.
        await udpFrom(ns, "127.0.0.1", uSecret.port, "attack");
        await udpFrom(ns, gw, uControl.port, "ping");
        await within(uControl.next("ping"), 10_000, "the control datagram").catch(async (e: unknown) => {
          const diag = await inNetns(ns, `ip -4 addr show eth0; ip route get ${gw}; ip neigh`);
          const host = await run("ip", ["-br", "link", "show", bridge]);
          throw new Error(`${messageOf(e)} (got ${JSON.stringify(uControl.got)})\n${diag.out}\n${host.stdout}`);
        });
        assert.deepEqual(uSecret.got, [], "a datagram reached the host's loopback");
      } finally {
        await Promise.all([secret.close(), control.close()]);
        uSecret.close();
        uControl.close();
      }
    });
  }

  it("drops what a LAN neighbour sends to a port published on 127.0.0.1", async () => {
    const hostIp = `${lan.net}.1`;
    const peerIp = `${lan.net}.2`;
    const nsPath = `/run/netns/${lan.ns}`;
    await run("ip", ["netns", "add", lan.ns]);
    cleanups.push(() => run("ip", ["netns", "del", lan.ns]));
    cleanups.push(() => run("ip", ["link", "del", lan.host]));
    for (const args of [
      ["link", "add", lan.host, "type", "veth", "peer", "name", lan.peer, "netns", lan.ns],
      ["addr", "add", `${hostIp}/30`, "dev", lan.host],
      ["link", "set", lan.host, "up"],
    ]) {
      const r = await run("ip", args);
      assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
    }
    const setup = await inNetns(nsPath, `ip link set lo up && ip addr add ${peerIp}/30 dev ${lan.peer} && ip link set ${lan.peer} up && ${loopbackViaScript(lan.peer, hostIp, lan.host)}`);
    assert.equal(setup.code, 0, setup.out);
    const control = await tcpListener(hostIp, "control");
    try {
      assert.equal(await tcpFrom(nsPath, hostIp, control.port), "control\n", "the neighbour reaches the host");
      assert.doesNotMatch(await tcpFrom(nsPath, "127.0.0.1", port, "GET / HTTP/1.0\\r\\n\\r\\n"), /hello from web/, "the 127.0.0.1 port answered the LAN");
    } finally {
      await control.close();
    }
    // The host's loopback still gets through.
    assert.equal(await httpGet(port), "hello from web\n");
  });

  it("keeps one loopback guard per bridge across a restart and a second daemon on berth0, and removes it with its network", async () => {
    for (const b of ["berth0", userBridge]) assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${b}/route_localnet`, "utf8").trim(), "1", `${b} routes 127.0.0.1`);
    const rawChain = chainNames(d.execRoot).raw;
    const portRule = `-A ${rawChain} -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport ${port} -j DROP`;
    const rawRules = async () => (await run("iptables-save", ["-t", "raw"])).stdout.split("\n").filter((l) => l.startsWith(`-A ${rawChain} `));
    assert.deepEqual(await rawRules(), [portRule]);
    assert.equal((await guardsFor("berth0")).length, 1);
    assert.equal((await guardsFor(userBridge)).length, 1);

    // A guard whose bridge vanished behind berthd's back is collected at start-up.
    const stale = `blb${tag}x`;
    const add = await run("iptables", ["-t", "raw", "-A", "PREROUTING", "-i", stale, "-d", "127.0.0.0/8", "-m", "comment", "--comment", GUARD, "-j", "DROP"]);
    assert.equal(add.code, 0, add.stderr);
    cleanups.push(() => run("iptables", ["-t", "raw", "-D", "PREROUTING", "-i", stale, "-d", "127.0.0.0/8", "-m", "comment", "--comment", GUARD, "-j", "DROP"]));
    await d.kill9();
    await d.start();
    assert.deepEqual(await guardsFor(stale), []);
    const d2 = new Daemon();
    try {
      await d2.start();
      assert.equal((await guardsFor("berth0")).length, 1, "a second daemon on berth0 adds no second guard");
    } finally {
      await d2.destroy();
    }
    assert.equal((await guardsFor(userBridge)).length, 1);
    assert.deepEqual(await rawRules(), [portRule], "restarts rewrite the chain, never append");

    await ok(["rm", "-f", "atk2"]);
    await ok(["network", "rm", net1]);
    assert.deepEqual(await guardsFor(userBridge), [], "the network's guard went with its bridge");
    await ok(["rm", "-f", "web"]);
    assert.deepEqual(await rawRules(), []);
    assert.equal((await guardsFor("berth0")).length, 1, "berth0 stays, and so does its guard");
  });
});
