import { test } from "node:test";
import assert from "node:assert/strict";
import { checkDns, checkDnsSearch, checkPool, parsePool, parseUlimit, showPools, showUlimits } from "./config-defaults.js";

// Messages: dockerd 20.10's for the same flags (checked against the reference daemon).
test("--default-ulimit name=soft[:hard] parses as go-units does, hard defaulting to soft", () => {
  assert.deepEqual(parseUlimit("nofile=1024:2048"), { Name: "nofile", Soft: 1024, Hard: 2048 });
  assert.deepEqual(parseUlimit("nproc=50"), { Name: "nproc", Soft: 50, Hard: 50 });
  assert.throws(() => parseUlimit("nofile"), { message: "invalid ulimit argument: nofile" });
  assert.throws(() => parseUlimit("nofil=3000:2000"), { message: "invalid ulimit type: nofil" });
  assert.throws(() => parseUlimit("nofile=3000:x"), { message: 'strconv.ParseInt: parsing "x": invalid syntax' });
  assert.throws(() => parseUlimit("nofile=3000:2000"), { message: "ulimit soft limit must be less than or equal to hard limit: 3000 > 2000" });
  assert.throws(() => parseUlimit("nofile=1:2:3"), /too many limit value arguments/);
  assert.equal(showUlimits({ nofile: { Name: "nofile", Soft: 1, Hard: 2 } }), "[nofile=1:2]");
});

test("--default-address-pool base=CIDR,size=N parses as dockerd's PoolsOpt, with its messages", () => {
  assert.deepEqual(parsePool("base=10.213.60.0/23,size=24"), { base: "10.213.60.0/23", size: 24 });
  assert.deepEqual(parsePool("base=10.213.60.0/23"), { base: "10.213.60.0/23", size: 0 });
  assert.throws(() => parsePool("10.213.60.0/23"), { message: "invalid field '10.213.60.0/23' must be a key=value pair" });
  assert.throws(() => parsePool("base=10.213.60.0/23,size=x"), { message: 'invalid size value: "x" (must be integer): strconv.Atoi: parsing "x": invalid syntax' });
  assert.throws(() => parsePool("base=10.213.60.0/23,sz=24"), { message: "unexpected key 'sz' in 'sz=24'" });
  assert.equal(showPools([{ base: "10.213.60.0/23", size: 24 }, { base: "10.213.70.0/24", size: 26 }]), "10.213.60.0/23 24, 10.213.70.0/24 26");
});

test("a pool needs an IPv4 CIDR base and a size between its prefix and 32", () => {
  checkPool({ base: "10.213.60.0/23", size: 24 });
  checkPool({ base: "10.213.60.0/23", size: 23 });
  assert.throws(() => checkPool({ base: "10.213.60.0/33", size: 24 }), { message: 'invalid base pool "10.213.60.0/33": invalid CIDR address: 10.213.60.0/33' });
  assert.throws(() => checkPool({ base: "nonsense", size: 24 }), { message: 'invalid base pool "nonsense": invalid CIDR address: nonsense' });
  assert.throws(() => checkPool({ base: "10.213.60.0/23", size: 16 }), { message: "invalid pools size: 16" });
  assert.throws(() => checkPool({ base: "10.213.60.0/23", size: 0 }), { message: "invalid pools size: 0" });
  assert.throws(() => checkPool({ base: "10.213.60.0/23", size: 33 }), { message: "invalid pools size: 33" });
  assert.throws(() => checkPool({ base: "fd00::/48", size: 64 }), /IPv6 address pools are not supported/);
});

test("dns servers must be IP addresses and search domains valid names", () => {
  assert.equal(checkDns("10.213.60.53"), "10.213.60.53");
  assert.equal(checkDns("fd00::53"), "fd00::53");
  assert.throws(() => checkDns("notanip"), { message: "notanip is not an ip address" });
  assert.equal(checkDnsSearch("corp.example"), "corp.example");
  assert.equal(checkDnsSearch("."), ".");
  assert.throws(() => checkDnsSearch("-bad-"), { message: "-bad- is not a valid domain" });
});
