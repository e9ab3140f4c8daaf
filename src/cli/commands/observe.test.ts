import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Command } from "commander";
import { naturalLess } from "./observe.js";
import { renderStats, statsEntry } from "./statsfmt.js";
import { diskUsageRows, systemPruneWarning } from "./diskusage.js";
import { historyContext } from "./history.js";
import { commitQuery } from "./commit.js";
import { normalizeBoolArgs } from "../runopts.js";

describe("stats numbers and table", () => {
  const sample = {
    id: "0123456789abcdef0123",
    name: "/web",
    cpu_stats: { cpu_usage: { total_usage: 3_000_000 }, system_cpu_usage: 20_000_000, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 10_000_000 },
    memory_stats: { usage: 10 * 1024 * 1024, limit: 100 * 1024 * 1024, stats: { inactive_file: 2 * 1024 * 1024 } },
    networks: { eth0: { rx_bytes: 1500, tx_bytes: 500 }, eth1: { rx_bytes: 500, tx_bytes: 0 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: "Read", value: 4096 }, { op: "write", value: 8192 }, { op: "Total", value: 12288 }] },
    pids_stats: { current: 3 },
  };
  it("computes CPU from the two samples, memory without the inactive page cache, and I/O sums", () => {
    const e = statsEntry("web", sample);
    assert.equal(e.cpu, 40); // (2e6 / 1e7) * 2 CPUs * 100
    assert.equal(e.mem, 8 * 1024 * 1024);
    assert.equal(e.memPerc, 8);
    assert.deepEqual([e.netRx, e.netTx, e.blkRead, e.blkWrite, e.pids], [2000, 500, 4096, 8192, 3]);
  });
  it("renders docker's columns and a custom format", () => {
    const e = statsEntry("web", sample);
    const table = renderStats([e], "", true).split("\n");
    assert.match(table[0] ?? "", /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
    assert.match(table[1] ?? "", /^0123456789ab +web +40\.00% +8MiB \/ 100MiB +8\.00% +2kB \/ 500B +4\.1kB \/ 8\.19kB +3$/);
    assert.equal(renderStats([e], "{{.Container}} {{.Name}} {{.PIDs}}", true), "web web 3\n");
  });
});

describe("system df", () => {
  it("sums images, containers, volumes and build cache as docker's summary rows", () => {
    const rows = diskUsageRows({
      LayersSize: 1000,
      Images: [{ Id: "sha256:a", Created: 0, Size: 600, SharedSize: 0, Containers: 1 }, { Id: "sha256:b", Created: 0, Size: 400, SharedSize: 0, Containers: 0 }],
      Containers: [{ Id: "c1", State: "running", SizeRw: 10 }, { Id: "c2", State: "exited", SizeRw: 30 }],
      Volumes: [{ Name: "v", UsageData: { Size: 50, RefCount: 0 } }],
      BuildCache: [],
    });
    assert.deepEqual(rows, [
      { Active: "1", Reclaimable: "400B (40%)", Size: "1kB", TotalCount: "2", Type: "Images" },
      { Active: "1", Reclaimable: "30B (75%)", Size: "40B", TotalCount: "2", Type: "Containers" },
      { Active: "0", Reclaimable: "50B (100%)", Size: "50B", TotalCount: "1", Type: "Local Volumes" },
      { Active: "0", Reclaimable: "0B", Size: "0B", TotalCount: "0", Type: "Build Cache" },
    ]);
  });
  it("warns about what system prune removes, with -a, --volumes and filters", () => {
    assert.equal(
      systemPruneWarning(false, false),
      "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue?",
    );
    assert.match(systemPruneWarning(true, true, ["label=x"]), /anonymous volumes[^]*without at least one container[^]*all build cache\n\n {2}Items to be pruned will be filtered with:\n {2}- label=x\n\nAre you sure/);
  });
});

describe("history, commit and port helpers", () => {
  it("shows a layer truncated and human, or in full with raw numbers", () => {
    const h = { Id: "sha256:0123456789abcdef", Created: 0, CreatedBy: "/bin/sh -c\t#(nop) a very long command that goes on and on", Size: 1986363, Comment: "c" };
    const short = historyContext(h, true, true, 90_000);
    assert.equal(short["ID"], "0123456789ab");
    assert.equal(short["CreatedBy"], "/bin/sh -c #(nop) a very long command that g…");
    assert.equal(short["Size"], "1.99MB");
    assert.equal(short["CreatedSince"], "About a minute ago");
    const full = historyContext(h, false, false);
    assert.equal(full["ID"], "sha256:0123456789abcdef");
    assert.equal(full["Size"], "1986363");
    assert.equal(full["CreatedSince"], full["CreatedAt"]);
  });
  it("builds the commit query from the reference and flags", () => {
    assert.deepEqual(commitQuery("c", "docker.io/library/img", { pause: false, change: ["ENV A=1"], author: "me", message: "m" }), {
      container: "c",
      repo: "img",
      tag: "latest",
      comment: "m",
      author: "me",
      changes: ["ENV A=1"],
      pause: "0",
    });
    assert.deepEqual(commitQuery("c", undefined, { pause: true }), { container: "c", repo: undefined, tag: undefined, comment: undefined, author: undefined, changes: undefined, pause: undefined });
    assert.throws(() => commitQuery("c", "Bad:Name", { pause: true }), /repository name \(library\/Bad\) must be lowercase/);
  });
  it("sorts port lines naturally", () => {
    assert.deepEqual(["81/tcp -> :1", "8080/tcp -> :2", "9/tcp -> :3"].sort(naturalLess), ["9/tcp -> :3", "81/tcp -> :1", "8080/tcp -> :2"]);
  });
  it("reads -p=false and -H=false as the --no- twin of a default-true flag", () => {
    const c = new Command("x").option("-p, --pause").option("--no-pause").option("-H, --human").option("--no-human");
    assert.deepEqual(normalizeBoolArgs(c, ["-p=false", "--human=false", "img"]), ["--no-pause", "--no-human", "img"]);
    assert.deepEqual(normalizeBoolArgs(c, ["--pause=true", "img"]), ["--pause", "img"]);
  });
});
