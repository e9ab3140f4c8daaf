import { test } from "node:test";
import assert from "node:assert/strict";
import { cidr6String, contains6, firstFree6, formatIPv6, overlaps6, parseCidr6, parseIPv6 } from "./ipnet6.js";

const ip = (s: string) => parseIPv6(s) as bigint;
const cidr = (s: string) => parseCidr6(s) as NonNullable<ReturnType<typeof parseCidr6>>;

test("formats IPv6 addresses as Go (RFC 5952) does: longest zero run compressed, lower case", () => {
  for (const [inp, out] of [
    ["fd42:00b6:0000:0000:0000:0000:0000:0002", "fd42:b6::2"],
    ["FD42:B6::1", "fd42:b6::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:0:2:3:0:0:4", "1::2:3:0:0:4"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
  ]) assert.equal(formatIPv6(ip(inp as string)), out, inp);
});

test("refuses malformed IPv6 addresses, IPv4 addresses and zones", () => {
  for (const bad of ["fd42:zz::1", "1::2::3", "10.1.1.1", "fe80::1%eth0", "", "1:2:3:4:5:6:7:8:9"]) assert.equal(parseIPv6(bad), undefined, bad);
});

test("parses IPv6 CIDR blocks, keeping the address as written beside the block", () => {
  const c = cidr("fd42:c1::1/64");
  assert.equal(cidr6String(c), "fd42:c1::/64");
  assert.equal(formatIPv6(c.host), "fd42:c1::1");
  for (const bad of ["fd42:c1::/129", "fd42:zz::/64", "fd42::", "10.0.0.0/8"]) assert.equal(parseCidr6(bad), undefined, bad);
});

test("containment and overlap follow the shorter prefix", () => {
  assert.ok(contains6(cidr("fd42:b6::/64"), ip("fd42:b6::ffff")));
  assert.ok(!contains6(cidr("fd42:b6::/64"), ip("fd42:b7::1")));
  assert.ok(overlaps6(cidr("fd42:b6::/64"), cidr("fd42:b6::/80")));
  assert.ok(!overlaps6(cidr("fd42:b6::/64"), cidr("fd42:b7::/64")));
});

test("the first free address skips the network address and taken ones, stays in the range, and uses the last address", () => {
  const c = cidr("fd42:b6::/64");
  assert.equal(formatIPv6(firstFree6(c, new Set([ip("fd42:b6::1")])) as bigint), "fd42:b6::2");
  assert.equal(formatIPv6(firstFree6(c, new Set(), cidr("fd42:b6::100/120")) as bigint), "fd42:b6::100");
  assert.equal(firstFree6(cidr("fd42:c1::/127"), new Set([ip("fd42:c1::1")])), undefined);
  assert.equal(formatIPv6(firstFree6(cidr("fd42:c1::/126"), new Set([ip("fd42:c1::1"), ip("fd42:c1::2")])) as bigint), "fd42:c1::3");
});
