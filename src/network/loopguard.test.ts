import { test } from "node:test";
import assert from "node:assert/strict";
import { GUARD_COMMENT, guardedBridges } from "./loopguard.js";

test("reads which bridges have a loopback guard from iptables-save, ignoring other raw rules", () => {
  const save = [
    "*raw",
    ":PREROUTING ACCEPT [0:0]",
    `-A PREROUTING -d 127.0.0.0/8 -i br-0123456789ab -m comment --comment "${GUARD_COMMENT}" -j DROP`,
    `-A PREROUTING -d 127.0.0.0/8 -i berth0 -m comment --comment "${GUARD_COMMENT}" -j DROP`,
    `-A PREROUTING -i berth0 -d 127.0.0.0/8 -m comment --comment "${GUARD_COMMENT}" -j DROP`,
    '-A PREROUTING -m comment --comment "berth:/run/berth" -j BERTH-RAW',
    "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP",
    "-A PREROUTING -i eth1 -d 127.0.0.0/8 -j DROP",
    "COMMIT",
  ].join("\n");
  assert.deepEqual(guardedBridges(save), ["br-0123456789ab", "berth0"]);
});
