/**
 * Log drivers through the docker CLI: local (dockerd's compact rotated format,
 * read back by `docker logs`), json-file rotation with compress=true and
 * `docker logs --details`, syslog to listeners this test owns (udp, tcp,
 * unix, on loopback), journald to a private journald in its own mount namespace,
 * daemon defaults (--log-driver/--log-opt) and dockerd's validation messages.
 * Expected strings come from the reference dockerd 20.10.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { DOCKER, Daemon, busyboxDaemon, until, withDaemon } from "./harness.js";
import { decodeEntries, nanoTime } from "../../src/engine/logs/local.js";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

describe("docker CLI against berthd: log drivers", () => {
  const d = busyboxDaemon();
  const id = async (c: string) => (await d.docker(["inspect", "-f", "{{.Id}}", c])).stdout.trim();

  it("local: writes dockerd's protobuf-framed entries and docker logs reads them back with timestamps, tail and stream selection", async () => {
    const r = await d.docker(["run", "--name", "loc", "--log-driver", "local", "busybox", "sh", "-c", "echo one; echo two >&2; echo three; printf partial"]);
    assert.equal(r.code, 0, r.stderr);
    const cid = await id("loc");
    const file = path.join(d.dataRoot, "containers", cid, "local-logs", "container.log");
    const { entries, used } = decodeEntries(readFileSync(file));
    assert.equal(used, readFileSync(file).length, "the file holds whole entries only");
    // stdout and stderr are two pipes: their order relative to each other is the kernel's
    const of = (src: string) => entries.filter((e) => e.source === src).map((e) => [e.line.toString(), e.partial]);
    assert.deepEqual(of("stdout"), [["one", false], ["three", false], ["partial", true]]);
    assert.deepEqual(of("stderr"), [["two", false]]);
    const insp = await d.docker(["inspect", "-f", "{{.HostConfig.LogConfig.Type}} [{{.LogPath}}]", "loc"]);
    assert.equal(insp.stdout.trim(), "local []"); // reference: dockerd 20.10 keeps LogPath empty for local
    const all = await d.docker(["logs", "loc"]);
    assert.equal(all.stdout, "one\nthree\npartial");
    assert.equal(all.stderr, "two\n");
    const tail = await d.docker(["logs", "--tail", "2", "-t", "loc"]);
    const last2 = entries.slice(-2);
    const stamp = (e: (typeof entries)[number]) => `${nanoTime(e.timeNano)} ${e.line.toString()}${e.partial ? "" : "\n"}`;
    assert.equal(tail.stdout, last2.filter((e) => e.source === "stdout").map(stamp).join(""));
    assert.equal(tail.stderr, last2.filter((e) => e.source === "stderr").map(stamp).join(""));
    assert.match(stamp(entries[0] as (typeof entries)[number]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one\n$/);
    const since = await d.docker(["logs", "--since", String(Math.floor(Date.now() / 1000) + 60), "loc"]);
    assert.equal(since.stdout + since.stderr, "");
    const until1 = await d.docker(["logs", "--until", "1", "loc"]);
    assert.equal(until1.stdout + until1.stderr, "");
    await d.docker(["rm", "loc"]);
    // a line over 16 KiB is stored as partial entries and comes back whole
    const long = await d.docker(["run", "--name", "long", "--log-driver", "local", "busybox", "sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; echo; echo next"]);
    assert.equal(long.code, 0, long.stderr);
    const longEntries = decodeEntries(readFileSync(path.join(d.dataRoot, "containers", await id("long"), "local-logs", "container.log"))).entries;
    assert.deepEqual(longEntries.map((e) => [e.line.length, e.partial]), [[16384, true], [16384, true], [7232, false], [4, false]]);
    await d.docker(["rm", "long"]);
  });

  it("json-file: writes the attrs dockerd writes for --log-opt labels/env/tag, and docker logs still prints the lines only", async () => {
    const r = await d.docker(["run", "--name", "attrs", "--label", "team=db", "-e", "STAGE=prod", "--log-opt", "labels=team", "--log-opt", "env=STAGE", "--log-opt", "tag={{.Name}}", "busybox", "echo", "hi"]);
    assert.equal(r.code, 0, r.stderr);
    const line = readFileSync(path.join(d.dataRoot, "containers", await id("attrs"), `${await id("attrs")}-json.log`), "utf8");
    assert.match(line, /^\{"log":"hi\\n","stream":"stdout","attrs":\{"STAGE":"prod","tag":"attrs","team":"db"\},"time":"[^"]+"\}\n$/);
    assert.equal((await d.docker(["logs", "attrs"])).stdout, "hi\n");
    await d.docker(["rm", "attrs"]);
  });

  it("json-file --details: prints each line after its attrs (k=v,k2=v2, query-escaped) as dockerd, a bare space for local", async () => {
    const r = await d.docker(["run", "--name", "det", "-e", "A=x&y,z é+", "-e", "B=1", "--log-opt", "env=B,A", "busybox", "echo", "q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await d.docker(["logs", "--details", "det"])).stdout, "A=x%26y%2Cz+%C3%A9%2B,B=1 q\n"); // reference: dockerd 20.10
    const t = (await d.docker(["logs", "--details", "-t", "det"])).stdout;
    assert.match(t, /^\d{4}-\d\d-\d\dT[\d:.]+Z A=x%26y%2Cz\+%C3%A9%2B,B=1 q\n$/);
    await d.docker(["run", "--name", "det2", "--log-driver", "local", "busybox", "echo", "plain"]);
    assert.equal((await d.docker(["logs", "--details", "det2"])).stdout, " plain\n"); // reference: dockerd 20.10 (no attrs: the space only)
    await d.docker(["rm", "det", "det2"]);
  });

  it("json-file compress=true: rotated files become <id>-json.log.N.gz (written by the monitor) and docker logs reads across them with --tail and --since", async () => {
    // a pause after each line: lines read by the monitor at once share one timestamp, and --since needs distinct ones
    const r = await d.docker(["run", "--name", "jz", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "--log-opt", "compress=true", "busybox", "sh", "-c", "i=0; while [ $i -lt 80 ]; do echo line-$i; i=$((i+1)); sleep 0.01; done"]);
    assert.equal(r.code, 0, r.stderr);
    const cid = await id("jz");
    const dir = path.join(d.dataRoot, "containers", cid);
    const logs = () => readdirSync(dir).filter((f) => f.startsWith(`${cid}-json.log`)).sort();
    // reference: dockerd 20.10 leaves <id>-json.log, .1.gz and .2.gz
    assert.ok(await until(async () => logs().join(" ") === `${cid}-json.log ${cid}-json.log.1.gz ${cid}-json.log.2.gz`, 10_000), logs().join(" "));
    const gz1 = readFileSync(path.join(dir, `${cid}-json.log.1.gz`));
    assert.deepEqual([gz1[0], gz1[1]], [0x1f, 0x8b], "gzip data");
    const inGz = gunzipSync(gz1).toString().trim().split("\n").map((l) => JSON.parse(l) as { log: string; time: string });
    assert.ok(inGz.length > 3 && inGz.every((e) => /^line-\d+\n$/.test(e.log)), "whole json-file lines inside");
    const out = (await d.docker(["logs", "jz"])).stdout.trim().split("\n");
    const first = Number((out[0] as string).slice(5));
    assert.ok(out.length < 80 && out.length > inGz.length * 2, `kept three files only: ${out.length}`);
    assert.deepEqual(out, Array.from({ length: 80 - first }, (_, i) => `line-${first + i}`), "oldest .gz first, no line lost or repeated");
    const tail = (await d.docker(["logs", "--tail", String(out.length - 2), "jz"])).stdout.trim().split("\n");
    assert.deepEqual(tail, out.slice(2), "--tail counts across the .gz files");
    const kept = [gunzipSync(readFileSync(path.join(dir, `${cid}-json.log.2.gz`))), gunzipSync(gz1), readFileSync(path.join(dir, `${cid}-json.log`))];
    const entries = Buffer.concat(kept).toString().trim().split("\n").map((l) => JSON.parse(l) as { log: string; time: string });
    const from = (inGz[0] as { time: string }).time;
    const want = entries.filter((e) => e.time >= from).map((e) => e.log.trim());
    assert.ok(want.length < out.length, "the test's lines have distinct times");
    assert.deepEqual((await d.docker(["logs", "--since", from, "jz"])).stdout.trim().split("\n"), want, "--since a time inside .1.gz");
    await d.docker(["rm", "jz"]);
  });

  it("json-file compress=true: docker logs -f follows across rotations (into .gz files) without losing a line", async () => {
    // batches of 20 lines (~1.6 KiB: at most two rotations) released one at a time once the follower has the last one;
    // dockerd 20.10 itself loses lines when rotations outrun its follower (101-142 of 201 with one 200-line burst)
    const script = "echo start; b=0; while [ $b -lt 10 ]; do while [ ! -e /tmp/go$b ]; do sleep 0.02; done; i=0; while [ $i -lt 20 ]; do echo line-$b-$i; i=$((i+1)); done; b=$((b+1)); done; sleep 60";
    let r = await d.docker(["run", "-d", "--name", "jf", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "--log-opt", "compress=true", "busybox", "sh", "-c", script]);
    assert.equal(r.code, 0, r.stderr);
    const follow = spawn(DOCKER, ["logs", "-f", "jf"], { env: d.env, stdio: ["ignore", "pipe", "pipe"] });
    let got = "";
    follow.stdout.on("data", (b: Buffer) => (got += b.toString()));
    const exited = new Promise<number | null>((res) => follow.once("exit", (code) => res(code)));
    try {
      assert.ok(await until(async () => got === "start\n", 10_000), got);
      for (let b = 0; b < 10; b++) {
        r = await d.docker(["exec", "jf", "touch", `/tmp/go${b}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(await until(async () => got.includes(`line-${b}-19\n`), 10_000), `batch ${b}: ${got.slice(-200)}`);
      }
      await d.docker(["kill", "jf"]); // the follower ends with the container
      assert.equal(await exited, 0);
    } finally {
      follow.kill();
    }
    const want = ["start", ...Array.from({ length: 200 }, (_, i) => `line-${Math.floor(i / 20)}-${i % 20}`)];
    assert.equal(got, `${want.join("\n")}\n`);
    assert.ok(readdirSync(path.join(d.dataRoot, "containers", await id("jf"))).some((f) => f.endsWith("-json.log.2.gz")), "it did rotate, compressed");
    await d.docker(["rm", "jf"]);
  });

  it("gives docker logs output larger than the stream's buffer whole, for json-file and local", async () => {
    for (const driver of ["json-file", "local"]) {
      const r = await d.docker(["run", "--name", "big", "--log-driver", driver, "busybox", "sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; echo; seq 1 2000"]);
      assert.equal(r.code, 0, r.stderr);
      const out = (await d.docker(["logs", "big"])).stdout.split("\n");
      assert.deepEqual([out.length, out[0]?.length, out[1], out.at(-2)], [2002, 40000, "1", "2000"], driver);
      await d.docker(["rm", "big"]);
    }
  });

  it("local: rotates at max-size into max-file files, compressed, and docker logs reads across them", async () => {
    const r = await d.docker(["run", "--name", "rot", "--log-driver", "local", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox", "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"]);
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(d.dataRoot, "containers", await id("rot"), "local-logs");
    assert.ok(await until(async () => readdirSync(dir).sort().join(" ") === "container.log container.log.1.gz container.log.2.gz", 10_000), readdirSync(dir).join(" "));
    const out = (await d.docker(["logs", "rot"])).stdout.trim().split("\n");
    assert.equal(out.at(-1), "line-299");
    assert.ok(out.length < 300 && out.length > 40, `kept the newest lines only: ${out.length}`);
    const first = Number((out[0] as string).slice(5));
    assert.deepEqual(out, Array.from({ length: 300 - first }, (_, i) => `line-${first + i}`), "no line lost or repeated within the kept files");
    await d.docker(["rm", "rot"]);
  });

  it("local: docker logs -f follows until the container exits", async () => {
    await d.docker(["run", "-d", "--name", "fol", "--log-driver", "local", "busybox", "sh", "-c", "echo a; sleep 60; echo b"]).then((r) => assert.equal(r.code, 0, r.stderr));
    const follow = d.docker(["logs", "-f", "fol"], { timeoutMs: 20_000 });
    assert.ok(await until(async () => (await d.docker(["logs", "fol"])).stdout === "a\n", 10_000));
    await d.docker(["kill", "fol"]);
    const r = await follow;
    assert.equal(r.stdout, "a\n");
    await d.docker(["rm", "fol"]);
  });

  it("rejects unknown drivers and options with dockerd's messages, at create and at start", async () => {
    const cases: [string[], string][] = [
      [["--log-driver", "foo"], `error looking up logging plugin foo: plugin "foo" not found`],
      [["--log-opt", "foo=bar"], "unknown log opt 'foo' for json-file log driver"],
      [["--log-driver", "local", "--log-opt", "foo=1"], "unknown log opt 'foo' for log driver local"],
      [["--log-driver", "journald", "--log-opt", "foo=1"], "unknown log opt 'foo' for journald log driver"],
      [["--log-driver", "syslog", "--log-opt", "syslog-address=foo://x"], "syslog-address should be in form proto://address, got foo://x"],
      [["--log-driver", "syslog", "--log-opt", "syslog-facility=nope"], "invalid syslog facility"],
      [["--log-driver", "syslog", "--log-opt", "syslog-format=x"], "Invalid syslog format"],
      [["--log-driver", "syslog", "--log-opt", "syslog-address=unixgram:///nonexistent/log.sock"], "stat /nonexistent/log.sock: no such file or directory"],
    ];
    for (const [flags, msg] of cases) {
      const r = await d.docker(["create", ...flags, "busybox", "true"]);
      assert.equal(r.stderr.trim(), `Error response from daemon: ${msg}`, flags.join(" "));
    }
    const atStart: [string[], string][] = [
      [["--log-driver", "local", "--log-opt", "max-size=abc"], "invalid value for max-size: abc: invalid size: 'abc'"],
      [["--log-driver", "local", "--log-opt", "max-file=0"], "compression cannot be enabled when max file count is 1"],
      [["--log-driver", "local", "--log-opt", "compress=maybe"], `error reading compress log option: strconv.ParseBool: parsing "maybe": invalid syntax`],
      [["--log-opt", "max-file=0"], "max-file cannot be less than 1"],
      [["--log-opt", "max-size=abc"], "invalid size: 'abc'"],
      // json-file compress, reference: dockerd 20.10
      [["--log-opt", "compress=maybe"], `strconv.ParseBool: parsing "maybe": invalid syntax`],
      [["--log-opt", "compress=true"], "compress cannot be true when max-file is less than 2 or max-size is not set"],
      [["--log-opt", "compress=true", "--log-opt", "max-file=3"], "compress cannot be true when max-file is less than 2 or max-size is not set"],
      [["--log-opt", "compress=true", "--log-opt", "max-size=1k", "--log-opt", "max-file=1"], "compress cannot be true when max-file is less than 2 or max-size is not set"],
      [["--log-opt", "max-size=0", "--log-opt", "max-file=2"], "max-size must be a positive number"],
      ...(["/dev/log", "/var/run/syslog", "/var/run/log"].some((p) => existsSync(p)) ? [] : [[["--log-driver", "syslog"], "Unix syslog delivery error"] as [string[], string]]),
    ];
    for (const [flags, msg] of atStart) {
      const r = await d.docker(["run", "--rm", ...flags, "busybox", "true"]);
      assert.match(r.stderr, new RegExp(`^docker: Error response from daemon: failed to initialize logging driver: ${msg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n`), flags.join(" "));
    }
    const none = await d.docker(["run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi"]);
    assert.equal(none.stdout, "hi\n");
    const r = await d.docker(["logs", "quiet"]);
    assert.equal(r.stderr.trim(), "Error response from daemon: configured logging driver does not support reading");
    await d.docker(["rm", "-f", "quiet"]);
  });

  describe("syslog", () => {
    const got: string[] = [];
    let udp: dgram.Socket;
    let tcp: net.Server;
    let unix: net.Server;
    const unixPath = path.join(os.tmpdir(), `berth-syslog-${process.pid}.sock`);
    before(async () => {
      udp = dgram.createSocket("udp4");
      udp.on("message", (m) => got.push(`udp ${m.toString()}`));
      await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
      const stream = (proto: string) => (s: net.Socket) => {
        let buf = "";
        s.on("data", (b) => {
          buf += b.toString();
          for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
            got.push(`${proto} ${buf.slice(0, i + 1)}`);
            buf = buf.slice(i + 1);
          }
        });
      };
      tcp = net.createServer(stream("tcp"));
      await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
      rmSync(unixPath, { force: true });
      unix = net.createServer(stream("unix"));
      await new Promise<void>((r) => unix.listen(unixPath, () => r()));
    });
    after(() => {
      udp.close();
      tcp.close();
      unix.close();
      rmSync(unixPath, { force: true });
    });
    const take = async (n: number) => {
      assert.ok(await until(async () => got.length >= n, 10_000), `got ${got.length} of ${n}: ${got.join("")}`);
      return got.splice(0).sort();
    };
    const host = os.hostname();

    it("sends dockerd's four formats with facility daemon, info for stdout and err for stderr", async () => {
      const port = (udp.address() as net.AddressInfo).port;
      const forms: Record<string, RegExp> = {
        "": /^udp <(27|30)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ([0-9a-f]{12})\[\d+\]: (out|err)\n$/,
        rfc3164: new RegExp(`^udp <(27|30)>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${host} ([0-9a-f]{12})\\[\\d+\\]: (out|err)\\n$`),
        rfc5424: new RegExp(`^udp <(27|30)>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:Z|[+-]\\d\\d:\\d\\d) ${host} ([0-9a-f]{12}) \\d+ \\2 - (out|err)\\n$`),
        rfc5424micro: new RegExp(`^udp <(27|30)>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,6})?(?:Z|[+-]\\d\\d:\\d\\d) ${host} ([0-9a-f]{12}) \\d+ \\2 - (out|err)\\n$`),
      };
      for (const [fmt, re] of Object.entries(forms)) {
        const r = await d.docker(["run", "--rm", "--log-driver", "syslog", "--log-opt", `syslog-address=udp://127.0.0.1:${port}`, ...(fmt ? ["--log-opt", `syslog-format=${fmt}`] : []), "busybox", "sh", "-c", "echo out; echo err >&2"]);
        assert.equal(r.code, 0, r.stderr);
        const msgs = await take(2);
        for (const m of msgs) {
          const x = re.exec(m);
          assert.ok(x, `${fmt || "unix"}: ${JSON.stringify(m)}`);
          assert.equal(x[1], x[3] === "out" ? "30" : "27");
        }
      }
    });

    it("renders the tag template and the facility over tcp and unix, and keeps dockerd's cache for docker logs", async () => {
      const port = (tcp.address() as net.AddressInfo).port;
      let r = await d.docker(["run", "--name", "tagged", "--log-driver", "syslog", "--log-opt", `syslog-address=tcp://127.0.0.1:${port}`, "--log-opt", "tag={{.Name}}|{{.ImageName}}", "--log-opt", "syslog-facility=local3", "busybox", "sh", "-c", "echo out; printf part"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await take(2)).map((m) => m.replace(/^(tcp <\d+>)\w{3} [ \d]\d \d\d:\d\d:\d\d /, "$1").replace(/\[\d+\]/, "[P]")), ["tcp <158>tagged|busybox[P]: out\n", "tcp <158>tagged|busybox[P]: part\n"]); // reference: dockerd 20.10
      const logs = await d.docker(["logs", "tagged"]);
      assert.equal(logs.stdout, "out\npart"); // dual logging: dockerd 20.10 reads its local cache
      await d.docker(["rm", "tagged"]);
      r = await d.docker(["run", "--rm", "--log-driver", "syslog", "--log-opt", `syslog-address=unix://${unixPath}`, "--log-opt", "syslog-format=rfc5424", "busybox", "echo", "via-unix"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match((await take(1))[0] as string, /^unix <30>1 \S+ \S+ [0-9a-f]{12} \d+ [0-9a-f]{12} - via-unix\n$/);
    });

    it("keeps dockerd 20.10's cache of 20m x 5 whatever cache-max-size/cache-max-file say (the reference ignores them, and a bad value)", async () => {
      const port = (udp.address() as net.AddressInfo).port;
      const r = await d.docker(["run", "--name", "cached", "--log-driver", "syslog", "--log-opt", `syslog-address=udp://127.0.0.1:${port}`, "--log-opt", "cache-max-size=1k", "--log-opt", "cache-max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await d.docker(["logs", "cached"])).stdout.split("\n").length, 201); // reference: dockerd 20.10.24 keeps all 200 lines in one cache file
      assert.deepEqual(readdirSync(path.join(d.dataRoot, "containers", await id("cached"))).filter((f) => f.startsWith("container-cached.log")), ["container-cached.log"]);
      const bad = await d.docker(["run", "--rm", "--log-driver", "syslog", "--log-opt", `syslog-address=udp://127.0.0.1:${port}`, "--log-opt", "cache-max-size=abc", "busybox", "true"]);
      assert.equal(bad.code, 0, bad.stderr); // reference: accepted by dockerd 20.10.24
      await d.docker(["rm", "cached"]);
      await until(async () => got.some((m) => m.includes("line-199")), 5_000); // this test's messages are in before the next test's
      got.splice(0);
    });

    it("fails the start as dockerd when the tcp listener is not there", async () => {
      const free = net.createServer();
      await new Promise<void>((r) => free.listen(0, "127.0.0.1", () => r()));
      const port = (free.address() as net.AddressInfo).port;
      await new Promise((r) => free.close(r));
      const r = await d.docker(["run", "--rm", "--log-driver", "syslog", "--log-opt", `syslog-address=tcp://127.0.0.1:${port}`, "busybox", "true"]);
      assert.match(r.stderr, new RegExp(`failed to initialize logging driver: dial tcp 127.0.0.1:${port}: connect: connection refused`));
    });

    it("keeps sending to syslog and writing the local file while berthd is down: the monitor is the writer", async () => {
      const port = (udp.address() as net.AddressInfo).port;
      const tick = ["sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"];
      let r = await d.docker(["run", "-d", "--name", "alone", "--log-driver", "syslog", "--log-opt", `syslog-address=udp://127.0.0.1:${port}`, "busybox", ...tick]);
      assert.equal(r.code, 0, r.stderr);
      r = await d.docker(["run", "-d", "--name", "alone-local", "--log-driver", "local", "busybox", ...tick]);
      assert.equal(r.code, 0, r.stderr);
      const localFile = path.join(d.dataRoot, "containers", await id("alone-local"), "local-logs", "container.log");
      r = await d.docker(["run", "-d", "--name", "alone-json", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "--log-opt", "compress=true", "busybox", "sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.02; done"]);
      assert.equal(r.code, 0, r.stderr);
      const jsonDir = path.join(d.dataRoot, "containers", await id("alone-json"));
      await d.stop();
      const downAt = Date.now();
      const gzSinceDown = () => readdirSync(jsonDir).some((f) => f.endsWith(".gz") && statSync(path.join(jsonDir, f)).mtimeMs > downAt);
      assert.ok(await until(async () => gzSinceDown(), 15_000), "json-file rotates and compresses while berthd is down");
      got.splice(0);
      const sizeDown = readFileSync(localFile).length;
      assert.ok(await until(async () => got.length >= 2, 10_000), "syslog messages arrive while berthd is down");
      assert.ok(await until(async () => readFileSync(localFile).length > sizeDown, 10_000), "the local file grows while berthd is down");
      await d.start();
      const logs = (await d.docker(["logs", "alone-local"])).stdout.trim().split("\n");
      assert.deepEqual(logs, logs.map((_, i) => `tick-${i}`), "docker logs after the restart has every line, in order");
      const jlogs = (await d.docker(["logs", "alone-json"])).stdout.trim().split("\n");
      const j0 = Number((jlogs[0] as string).slice(5));
      assert.deepEqual(jlogs, jlogs.map((_, i) => `tick-${j0 + i}`), "json-file: the kept files, .gz ones included, in order");
      await d.docker(["rm", "-f", "alone", "alone-local", "alone-json"]);
      got.splice(0);
    });
  });
});

describe("docker CLI against berthd: log driver defaults of the daemon", () => {
  const d = withDaemon({ args: ["--log-driver", "local", "--log-opt", "max-file=2"] });

  it("gives containers that name no driver the daemon's driver and options, and leaves others alone", async () => {
    await d.docker(["create", "--name", "dflt", "busybox", "true"]);
    await d.docker(["create", "--name", "own", "--log-driver", "json-file", "busybox", "true"]);
    await d.docker(["create", "--name", "more", "--log-opt", "max-size=1m", "busybox", "true"]);
    const show = async (c: string) => (await d.docker(["inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}", c])).stdout.trim();
    assert.equal(await show("dflt"), `local {"max-file":"2"}`);
    assert.equal(await show("own"), "json-file {}");
    assert.equal(await show("more"), `local {"max-file":"2","max-size":"1m"}`);
    const info = await d.docker(["info", "--format", "{{.LoggingDriver}} {{json .Plugins.Log}}"]);
    assert.equal(info.stdout.trim(), `local ["journald","json-file","local","syslog"]`); // dockerd 20.10 lists its drivers the same way, sorted
  });

  it("refuses to start with an option the default driver does not know", async () => {
    const bad = new Daemon();
    await assert.rejects(bad.start(["--log-opt", "foo=bar"]), /failed to set log opts: unknown log opt 'foo' for json-file log driver/);
    await bad.destroy();
  });
});

/** A private systemd-journald: its own mount namespace with a tmpfs /run, its sockets and journal in dirs of this test. */
function privateJournald(dir: string): ChildProcess {
  mkdirSync(path.join(dir, "sock"));
  mkdirSync(path.join(dir, "log"));
  const script = [
    "mount -t tmpfs tmpfs /run",
    "mkdir -p /run/systemd/journal /run/log/journal",
    `mount --bind ${dir}/sock /run/systemd/journal`,
    `mount --bind ${dir}/log /run/log/journal`,
    "exec /lib/systemd/systemd-journald",
  ].join(" && ");
  return spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { stdio: "ignore" });
}

// systemd-journald comes with Debian's systemd (scripts/install-deps.sh): missing, these tests fail rather than skip.
describe("docker CLI against berthd: journald driver", () => {
  const jdir = mkdtempSync("/tmp/bt-journal-");
  let journald: ChildProcess;
  const d = new Daemon();
  before(async () => {
    journald = privateJournald(jdir);
    assert.ok(await until(async () => existsSync(path.join(jdir, "sock", "socket")), 10_000), "private journald is up");
    process.env.BERTH_JOURNAL_SOCKET = path.join(jdir, "sock", "socket");
    process.env.BERTH_JOURNAL_DIRECTORY = path.join(jdir, "log");
    try {
      await d.start();
    } finally {
      delete process.env.BERTH_JOURNAL_SOCKET;
      delete process.env.BERTH_JOURNAL_DIRECTORY;
    }
    await d.loadBusybox();
  });
  after(async () => {
    await d.destroy();
    journald.kill();
    await new Promise((r) => (journald.exitCode !== null ? r(null) : journald.once("exit", r)));
    rmSync(jdir, { recursive: true, force: true });
  });

  it("writes dockerd's fields and docker logs reads them back through journalctl", async () => {
    const r = await d.docker(["run", "--name", "jn", "--log-driver", "journald", "--log-opt", "tag=web", "--log-opt", "labels=team", "--label", "team=db", "busybox", "sh", "-c", "echo hello; echo oops >&2"]);
    assert.equal(r.code, 0, r.stderr);
    const cid = (await d.docker(["inspect", "-f", "{{.Id}}", "jn"])).stdout.trim();
    const read = () => new Promise<string>((resolve) => {
      const c = spawn("journalctl", ["--no-pager", "-o", "json", `--directory=${path.join(jdir, "log")}`, `CONTAINER_ID_FULL=${cid}`]);
      let out = "";
      c.stdout.on("data", (b: Buffer) => (out += b.toString()));
      c.on("close", () => resolve(out));
    });
    let text = "";
    assert.ok(await until(async () => (text = await read()).trim().split("\n").length >= 2, 10_000), text);
    const entries = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    const hello = entries.find((e) => e["MESSAGE"] === "hello") as Record<string, string>;
    assert.deepEqual(
      { id: hello["CONTAINER_ID"], name: hello["CONTAINER_NAME"], tag: hello["CONTAINER_TAG"], ident: hello["SYSLOG_IDENTIFIER"], image: hello["IMAGE_NAME"], prio: hello["PRIORITY"], team: hello["TEAM"] },
      { id: cid.slice(0, 12), name: "jn", tag: "web", ident: "web", image: "busybox", prio: "6", team: "db" },
    );
    assert.equal(entries.find((e) => e["MESSAGE"] === "oops")?.["PRIORITY"], "3");
    const logs = await d.docker(["logs", "jn"]);
    assert.equal(logs.stdout, "hello\n");
    assert.equal(logs.stderr, "oops\n");
    // --details: the entry's fields that are not the journal's or dockerd's own (moby journald/read.go), sorted
    assert.equal((await d.docker(["logs", "--details", "jn"])).stdout, "IMAGE_NAME=busybox,TEAM=db hello\n");
    await d.docker(["rm", "jn"]);
  });
});
