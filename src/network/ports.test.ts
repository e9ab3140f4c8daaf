import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { isEngineError } from "../util/errors.js";
import { PortReservations, parsePortKey, portRequests } from "./ports.js";

test("turns PortBindings, ExposedPorts and -P into requests, in port order", () => {
  const reqs = portRequests(
    { "80/tcp": {}, "53/udp": {}, "9000/tcp": {} },
    { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }, { HostIp: "", HostPort: "" }], "443": [{ HostPort: "8000-8010" }], "53/udp": null },
    true,
  );
  assert.deepEqual(reqs, [
    { proto: "udp", containerPort: 53, hostIp: "0.0.0.0", hostPortStart: 0, hostPortEnd: 0 },
    { proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPortStart: 8080, hostPortEnd: 8080 },
    { proto: "tcp", containerPort: 80, hostIp: "0.0.0.0", hostPortStart: 0, hostPortEnd: 0 },
    { proto: "tcp", containerPort: 443, hostIp: "0.0.0.0", hostPortStart: 8000, hostPortEnd: 8010 },
    { proto: "tcp", containerPort: 9000, hostIp: "0.0.0.0", hostPortStart: 0, hostPortEnd: 0 },
  ]);
  assert.deepEqual(portRequests({ "80/tcp": {} }, {}, false), [], "exposed but not published");
  assert.deepEqual(portRequests({}, { "80/tcp": [{ HostIp: "::", HostPort: "80" }] }, false), [], "IPv6 host addresses are skipped");
});

test("refuses malformed port specifications with Docker's wording", () => {
  assert.deepEqual(parsePortKey("53/UDP"), { port: 53, proto: "udp" });
  assert.throws(() => parsePortKey("70000/tcp"), /invalid port specification/);
  assert.throws(() => portRequests({}, { "80/tcp": [{ HostPort: "9-1" }] }, false), /invalid port specification/);
  assert.throws(() => portRequests({}, { "80/tcp": [{ HostIp: "x.y", HostPort: "1" }] }, false), /invalid IP address/);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

test("reserves a host port once: a second claim, or 0.0.0.0 over a specific address, is 'already allocated'", async () => {
  const r = new PortReservations();
  const port = await freePort();
  try {
    const [m] = await r.reserve([{ proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPortStart: port, hostPortEnd: port }], "172.17.0.2");
    assert.deepEqual(m, { proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPort: port });
    for (const hostIp of ["127.0.0.1", "0.0.0.0"]) {
      await assert.rejects(r.reserve([{ proto: "tcp", containerPort: 80, hostIp, hostPortStart: port, hostPortEnd: port }], "172.17.0.3"), (e) => isEngineError(e, "conflict") && e.message === `Bind for ${hostIp}:${port} failed: port is already allocated`);
    }
    // UDP is a different port space.
    await r.reserve([{ proto: "udp", containerPort: 80, hostIp: "127.0.0.1", hostPortStart: port, hostPortEnd: port }], "172.17.0.3");
    r.release([{ proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPort: port }]);
    await r.reserve([{ proto: "tcp", containerPort: 81, hostIp: "127.0.0.1", hostPortStart: port, hostPortEnd: port }], "172.17.0.4");
  } finally {
    r.releaseAll();
  }
});

test("reports a port a host process listens on, and rolls back the whole request", async () => {
  const holder = net.createServer();
  await new Promise<void>((res) => holder.listen(0, "127.0.0.1", res));
  const taken = (holder.address() as net.AddressInfo).port;
  const free = await freePort();
  const r = new PortReservations();
  try {
    await assert.rejects(
      r.reserve([
        { proto: "tcp", containerPort: 81, hostIp: "127.0.0.1", hostPortStart: free, hostPortEnd: free },
        { proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPortStart: taken, hostPortEnd: taken },
      ], "172.17.0.9"),
      (e) => isEngineError(e, "conflict") && e.message === `failed to bind host port for 127.0.0.1:${taken}:172.17.0.9:80/tcp: address already in use`,
    );
    assert.equal(r.size, 0, "the first port was released again");
  } finally {
    holder.close();
    r.releaseAll();
  }
});

test("takes the next free port of a range, and an ephemeral port for an unspecified one", async () => {
  const r = new PortReservations();
  const holder = net.createServer();
  await new Promise<void>((res) => holder.listen(0, "127.0.0.1", res));
  const taken = (holder.address() as net.AddressInfo).port;
  try {
    const [m] = await r.reserve([{ proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPortStart: taken, hostPortEnd: taken + 5 }], "172.17.0.2");
    assert.ok(m && m.hostPort > taken && m.hostPort <= taken + 5);
    const [e] = await r.reserve([{ proto: "tcp", containerPort: 80, hostIp: "127.0.0.1", hostPortStart: 0, hostPortEnd: 0 }], "172.17.0.2");
    assert.ok(e && e.hostPort >= 1024);
  } finally {
    holder.close();
    r.releaseAll();
  }
});
