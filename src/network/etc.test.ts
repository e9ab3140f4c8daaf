import { test } from "node:test";
import assert from "node:assert/strict";
import { renderConfig } from "./dns.js";
import { bridgeResolvConf, embeddedResolvConf, parseResolvConf } from "./etc.js";

const HOST = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.com corp\noptions edns0 trust-ad\n";

test("reads a resolv.conf's servers, search list and options", () => {
  assert.deepEqual(parseResolvConf(HOST), { nameservers: ["127.0.0.53", "10.0.0.2"], search: ["example.com", "corp"], options: ["edns0", "trust-ad"] });
});

test("gives the default bridge the host's servers minus loopback ones, or Google's when none are left", () => {
  assert.equal(bridgeResolvConf(HOST, {}), "nameserver 10.0.0.2\nsearch example.com corp\noptions edns0 trust-ad\n");
  assert.equal(bridgeResolvConf("nameserver 127.0.0.1\n", {}), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  assert.equal(bridgeResolvConf(HOST, { dns: ["1.1.1.1"], dnsSearch: ["x.y"], dnsOptions: ["ndots:2"] }), "search x.y\nnameserver 1.1.1.1\noptions ndots:2\n");
});

test("points containers on user networks at the embedded DNS on the gateway", () => {
  const r = embeddedResolvConf("172.18.0.1", HOST, {});
  assert.match(r, /^nameserver 172\.18\.0\.1$/m);
  assert.doesNotMatch(r, /10\.0\.0\.2/);
  assert.match(r, /^search example\.com corp$/m);
  assert.match(r, /^options edns0 trust-ad ndots:0$/m);
});

test("writes aardvark-dns's network file: gateway line, then id, address, names", () => {
  const text = renderConfig({
    name: "net1",
    gateway: "172.18.0.1",
    entries: [
      { id: "abc", ip: "172.18.0.2", names: ["Web", "abc123456789", "alias", "bad name"], dnsServers: ["1.1.1.1"] },
      { id: "def", ip: "172.18.0.3", names: [] },
    ],
  });
  assert.equal(text, "172.18.0.1\nabc 172.18.0.2  web,abc123456789,alias 1.1.1.1\n");
});
