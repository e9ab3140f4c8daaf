import { test } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isEngineError } from "./errors.js";
import { IdMap, OVERFLOW_ID, lookupDb, nextFreeStart, parseSubIds, rangesToMap, resolveRemap } from "./idmap.js";

test("subordinate id files: ranges of one owner by name or uid, in file order; junk lines skipped", () => {
  const text = "# comment\nalice:100000:65536\nbob:165536:65536\n1001:231072:10\nalice:300000:5\nbroken line\nalice:x:1\n";
  assert.deepEqual(parseSubIds(text, { name: "alice" }), [
    { start: 100000, count: 65536 },
    { start: 300000, count: 5 },
  ]);
  assert.deepEqual(parseSubIds(text, { name: "carol", id: 1001 }), [{ start: 231072, count: 10 }]);
  assert.deepEqual(parseSubIds(text, { name: "nobody" }), []);
});

test("several ranges become consecutive container ids, as dockerd maps them", () => {
  const m = new IdMap(rangesToMap([{ start: 100000, count: 10 }, { start: 500000, count: 5 }]), rangesToMap([{ start: 200000, count: 20 }]));
  assert.deepEqual(m.root, { uid: 100000, gid: 200000 });
  assert.equal(m.hostUid(9), 100009);
  assert.equal(m.hostUid(10), 500000);
  assert.equal(m.hostUid(14), 500004);
  assert.equal(m.containerUid(500004), 14);
  assert.equal(m.containerUid(0), OVERFLOW_ID, "host root is not mapped: it shows as the overflow id");
  assert.equal(m.dirName, "100000.200000");
  assert.deepEqual(m.oci().uidMappings, [
    { containerID: 0, hostID: 100000, size: 10 },
    { containerID: 10, hostID: 500000, size: 5 },
  ]);
  assert.throws(() => m.hostUid(15), (e: unknown) => isEngineError(e, "invalid") && /Container ID 15 cannot be mapped/.test((e as Error).message));
  assert.throws(() => m.hostGid(20), /Container ID 20 cannot be mapped/);
});

test("a new range starts after every existing one, at 100000 at least", () => {
  assert.equal(nextFreeStart(""), 100000);
  assert.equal(nextFreeStart("a:100000:65536\nb:300000:10\n"), 300010);
  assert.equal(nextFreeStart("a:1000:10\n"), 100000);
});

test("passwd and group lookups by name or numeric id", () => {
  const passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/sh\n";
  assert.deepEqual(lookupDb(passwd, "alice"), { name: "alice", id: 1001 });
  assert.deepEqual(lookupDb(passwd, "1001"), { name: "alice", id: 1001 });
  assert.equal(lookupDb(passwd, "bob"), undefined);
});

test("--userns-remap user[:group] resolves through passwd, group, subuid and subgid; bad specs are clear errors", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-idmap-"));
  try {
    const files = { passwd: path.join(dir, "passwd"), group: path.join(dir, "group"), subuid: path.join(dir, "subuid"), subgid: path.join(dir, "subgid") };
    await fs.writeFile(files.passwd, "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/:/bin/sh\nnoranges:x:1002:1002::/:/bin/sh\n");
    await fs.writeFile(files.group, "root:x:0:\nalice:x:1001:\nstaff:x:50:\n");
    await fs.writeFile(files.subuid, "alice:100000:65536\n");
    await fs.writeFile(files.subgid, "alice:100000:65536\nstaff:400000:65536\n");
    const a = await resolveRemap("alice", files);
    assert.deepEqual(a.root, { uid: 100000, gid: 100000 });
    const b = await resolveRemap("1001:staff", files);
    assert.deepEqual(b.root, { uid: 100000, gid: 400000 });
    const c = await resolveRemap("alice:50", files);
    assert.deepEqual(c.root, { uid: 100000, gid: 400000 });
    await assert.rejects(resolveRemap("root", files), /requires a non-root user/);
    await assert.rejects(resolveRemap("nobody-here", files), /no such user/);
    await assert.rejects(resolveRemap("noranges", files), /no subuid ranges found for user "noranges"/);
    await assert.rejects(resolveRemap("a:b:c", files), /invalid --userns-remap value/);
    await assert.rejects(resolveRemap("", files), /needs a user name/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
