import { test } from "node:test";
import assert from "node:assert/strict";
import { isEngineError } from "../util/errors.js";
import {
  broadcastOf,
  cidrString,
  contains,
  defaultGateway,
  defaultPools,
  firstFree,
  formatIPv4,
  macFromIp,
  overlaps,
  parseCidr,
  parseIPv4,
  pickFromPools,
  pickSubnet,
} from "./ipnet.js";

const ip = (s: string) => parseIPv4(s) as number;

test("parses and formats dotted quads, refusing malformed ones", () => {
  assert.equal(formatIPv4(ip("172.17.0.2")), "172.17.0.2");
  assert.equal(ip("255.255.255.255"), 0xffffffff);
  for (const bad of ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "a.b.c.d", ""]) assert.equal(parseIPv4(bad), undefined, bad);
});

test("parses CIDR blocks: host bits must be zero unless allowed", () => {
  const c = parseCidr("172.18.0.0/16");
  assert.equal(cidrString(c), "172.18.0.0/16");
  assert.throws(() => parseCidr("172.18.0.1/16"), (e) => isEngineError(e, "invalid") && /should be 172\.18\.0\.0\/16/.test(e.message));
  const h = parseCidr("172.18.0.1/16", true);
  assert.equal(formatIPv4(h.host), "172.18.0.1");
  assert.equal(cidrString(h), "172.18.0.0/16");
  assert.throws(() => parseCidr("10.0.0.0/33"));
});

test("tells containment, overlap, broadcast and the default gateway", () => {
  const a = parseCidr("10.1.0.0/16");
  assert.ok(contains(a, ip("10.1.255.254")));
  assert.ok(!contains(a, ip("10.2.0.1")));
  assert.ok(overlaps(a, parseCidr("10.0.0.0/8")));
  assert.ok(overlaps(parseCidr("10.1.5.0/24"), a));
  assert.ok(!overlaps(a, parseCidr("10.2.0.0/16")));
  assert.equal(formatIPv4(broadcastOf(a)), "10.1.255.255");
  assert.equal(formatIPv4(defaultGateway(a)), "10.1.0.1");
});

test("derives Docker's MAC address from the IP (02:42 + the four bytes)", () => {
  assert.equal(macFromIp(ip("172.17.0.2")), "02:42:ac:11:00:02");
});

test("picks the first default pool that no route or network uses", () => {
  const pools = defaultPools();
  assert.equal(cidrString(pools[0] as never), "172.17.0.0/16");
  assert.equal(cidrString(pools[15] as never), "192.168.0.0/20");
  assert.equal(cidrString(pickSubnet([]) as never), "172.17.0.0/16");
  const used = [parseCidr("172.17.0.1/16", true), parseCidr("172.16.0.0/12")];
  assert.equal(cidrString(pickSubnet(used) as never), "192.168.0.0/20");
  assert.equal(cidrString(pickSubnet([parseCidr("172.17.5.0/24")]) as never), "172.18.0.0/16");
});

test("allocates the lowest free host address, within an ip-range when given", () => {
  const c = parseCidr("10.9.0.0/29");
  const taken = new Set([ip("10.9.0.1"), ip("10.9.0.2")]);
  assert.equal(formatIPv4(firstFree(c, taken) as number), "10.9.0.3");
  for (let i = 3; i <= 6; i++) taken.add(ip(`10.9.0.${i}`));
  assert.equal(firstFree(c, taken), undefined, "network and broadcast addresses are never given out");
  assert.equal(formatIPv4(firstFree(parseCidr("10.9.0.0/24"), new Set(), parseCidr("10.9.0.128/25")) as number), "10.9.0.128");
});

test("configured pools are cut into subnets of their size, taken in order, skipping any that overlap", () => {
  const pools = [{ base: parseCidr("10.213.60.0/23"), size: 24 }, { base: parseCidr("172.31.0.0/16"), size: 26 }];
  const pick = (used: string[]) => {
    const c = pickFromPools(used.map((u) => parseCidr(u, true)), pools);
    return c ? cidrString(c as never) : undefined;
  };
  assert.equal(pick([]), "10.213.60.0/24");
  assert.equal(pick(["10.213.60.0/24"]), "10.213.61.0/24");
  assert.equal(pick(["10.213.60.7/32"]), "10.213.61.0/24", "a host route inside the first subnet");
  assert.equal(pick(["10.213.60.0/24", "10.213.61.0/24"]), "172.31.0.0/26", "the next pool when one is full");
  assert.equal(pick(["10.0.0.0/8", "172.31.0.0/17"]), "172.31.128.0/26", "a large used block is jumped over");
  assert.equal(pick(["10.0.0.0/8", "172.16.0.0/12"]), undefined);
  // A /8 cut into /30s is four million subnets: found without listing them.
  const t0 = Date.now();
  const big = pickFromPools([parseCidr("10.0.0.0/9")], [{ base: parseCidr("10.0.0.0/8"), size: 30 }]);
  assert.equal(cidrString(big as never), "10.128.0.0/30");
  assert.ok(Date.now() - t0 < 1000);
});
