import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planUndo, splitRule, type FirewallSnapshot } from "./firewall.js";
import { judge } from "./targets.js";

const RUN = "/tmp/berth-bench-yL6nU8";
const own = { markers: [RUN, "bbench0"] };
const snap = (t: Partial<FirewallSnapshot>): FirewallSnapshot => ({ raw: [], mangle: [], nat: [], filter: [], ...t });

// What the host had before: another berthd's chain and jump, and a foreign rule.
const before = snap({
  filter: [
    "-P INPUT ACCEPT",
    "-P FORWARD ACCEPT",
    "-P OUTPUT ACCEPT",
    "-N BERTH-FORWARD-79e6b8",
    '-A FORWARD -m comment --comment "berth:/tmp/pd/profst/exec" -j BERTH-FORWARD-79e6b8',
    "-A FORWARD -o lbref0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  ],
  nat: ["-P PREROUTING ACCEPT", "-P POSTROUTING ACCEPT"],
});

// After a run: dockerd's rules (as dockerd 20.10 wrote them with --bridge=bbench0),
// the bench's berthd's jump and chain, and rules another daemon added meanwhile.
const after = snap({
  filter: [
    "-P INPUT ACCEPT",
    "-P FORWARD DROP",
    "-P OUTPUT ACCEPT",
    "-N BERTH-FORWARD-79e6b8",
    "-N BERTH-FORWARD-01bd0d",
    "-N BERTH-FORWARD-ddad42",
    "-N DOCKER",
    "-N DOCKER-ISOLATION-STAGE-1",
    "-N DOCKER-USER",
    '-A FORWARD -m comment --comment "berth:/tmp/pd/profst/exec" -j BERTH-FORWARD-79e6b8',
    "-A FORWARD -o lbref0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A FORWARD -j DOCKER-USER",
    "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
    "-A FORWARD -o bbench0 -j DOCKER",
    "-A FORWARD -i bbench0 ! -o bbench0 -j ACCEPT",
    `-A FORWARD -m comment --comment "berth:${RUN}/berth/exec" -j BERTH-FORWARD-01bd0d`,
    '-A FORWARD -m comment --comment "berth:/tmp/pd/st-NIDhul/exec" -j BERTH-FORWARD-ddad42',
    "-A BERTH-FORWARD-01bd0d -i berth0 -j ACCEPT",
    "-A BERTH-FORWARD-ddad42 -i berth0 -j ACCEPT",
    "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
    "-A DOCKER-USER -j RETURN",
  ],
  nat: [
    "-P PREROUTING ACCEPT",
    "-P POSTROUTING ACCEPT",
    "-N DOCKER",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
    "-A POSTROUTING -s 10.213.0.0/24 ! -o bbench0 -j MASQUERADE",
    "-A DOCKER -i bbench0 -j RETURN",
  ],
});

describe("bench firewall clean-up plan", () => {
  it("splits iptables -S lines with quoted comments into arguments", () => {
    assert.deepEqual(splitRule('-A FORWARD -m comment --comment "berth:/a b/exec" -j X'), ["-A", "FORWARD", "-m", "comment", "--comment", "berth:/a b/exec", "-j", "X"]);
    assert.deepEqual(splitRule('-A X -m comment --comment "say \\"hi\\"" -j ACCEPT'), ["-A", "X", "-m", "comment", "--comment", 'say "hi"', "-j", "ACCEPT"]);
  });

  it("undoes dockerd's chains, rules and FORWARD policy and the bench berthd's jump and chain", () => {
    const plan = planUndo(before, after, own);
    assert.deepEqual(
      plan.chains.map((c) => `${c.table}/${c.chain}`).sort(),
      ["filter/BERTH-FORWARD-01bd0d", "filter/DOCKER", "filter/DOCKER-ISOLATION-STAGE-1", "filter/DOCKER-USER", "nat/DOCKER"],
    );
    assert.deepEqual(
      plan.deletes.map((d) => d.line),
      [
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A POSTROUTING -s 10.213.0.0/24 ! -o bbench0 -j MASQUERADE",
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
        "-A FORWARD -o bbench0 -j DOCKER",
        "-A FORWARD -i bbench0 ! -o bbench0 -j ACCEPT",
        `-A FORWARD -m comment --comment "berth:${RUN}/berth/exec" -j BERTH-FORWARD-01bd0d`,
      ],
    );
    assert.deepEqual(plan.deletes[6]?.args, ["FORWARD", "-m", "comment", "--comment", `berth:${RUN}/berth/exec`, "-j", "BERTH-FORWARD-01bd0d"]);
    assert.deepEqual(plan.policies, [{ table: "filter", chain: "FORWARD", policy: "ACCEPT", was: "-P FORWARD DROP" }]);
  });

  it("leaves rules and chains of other daemons alone, old and new", () => {
    const plan = planUndo(before, after, own);
    const touched = [...plan.deletes.map((d) => d.line), ...plan.chains.map((c) => c.chain)].join("\n");
    assert.ok(!touched.includes("79e6b8"));
    assert.ok(!touched.includes("ddad42"));
    assert.ok(!touched.includes("lbref0"));
  });

  it("has nothing to do when nothing changed", () => {
    assert.deepEqual(planUndo(after, after, own), { deletes: [], chains: [], policies: [] });
  });
});

describe("issue 14 targets", () => {
  it("judges ratios (<=) and absolute bounds (< for the per-container growth)", () => {
    assert.equal(judge("run-true", 100, 30), "met");
    assert.equal(judge("run-true", 100, 31), "NOT met");
    assert.equal(judge("idle-after-work.total", 200, 50), "met");
    assert.equal(judge("idle-after-work.total", 10, 50.1), "NOT met");
    assert.equal(judge("idle-ctrs-50.perCtr", 3, 0.5), "NOT met");
    assert.equal(judge("idle-ctrs-50.perCtr", 3, 0.49), "met");
    assert.equal(judge("run-echo", 100, 10), undefined);
    assert.equal(judge("exec-true", undefined, 10), undefined);
  });
});
