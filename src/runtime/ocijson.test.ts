import { it } from "node:test";
import assert from "node:assert/strict";
import { ociJson, rlimitsFor } from "./index.js";

it("writes an unlimited rlimit as RLIM_INFINITY in the runtime's JSON", () => {
  const rl = rlimitsFor([{ Name: "core", Soft: -1, Hard: -1 }], { rlimits: {}, sysResource: false } as unknown as Parameters<typeof rlimitsFor>[1], []);
  const json = ociJson({ user: { uid: 0, gid: 0 }, args: ["sh"], env: [], cwd: "/", rlimits: rl });
  assert.match(json, /"rlimits":\[\{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615\}\]/);
  // read back by JSON.parse (exec does), the value is 2^64: still written exactly
  assert.equal(ociJson(JSON.parse(json) as Parameters<typeof ociJson>[0]), json);
});

