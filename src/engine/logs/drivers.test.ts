/** Log driver options: dockerd's validation messages, daemon defaults, tag templates, syslog facilities, sizes. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { journalAttrs, journalctlArgs } from "./journald.js";
import { extraAttributes, journalKey, logTarget, mergeLogConfig, parseLogSize, renderTag, syslogFacility, unreadable, validateDaemonLogConfig, validateLogConfig } from "./drivers.js";

const c = { Id: "0123456789abcdef".repeat(4), Name: "/web", image: "busybox:1", dir: "/d" };

void describe("log drivers", () => {
  void test("names unknown drivers and options as dockerd 20.10 does", () => {
    assert.throws(() => validateLogConfig("gelf", {}), { message: `error looking up logging plugin gelf: plugin "gelf" not found` });
    assert.throws(() => validateLogConfig("json-file", { x: "1" }), /unknown log opt 'x' for json-file log driver/);
    assert.throws(() => validateLogConfig("local", { tag: "1" }), /unknown log opt 'tag' for log driver local/);
    assert.throws(() => validateLogConfig("syslog", { "syslog-address": "http://x" }), /syslog-address should be in form proto:\/\/address, got http:\/\/x/);
    validateLogConfig("none", { anything: "goes" });
    validateLogConfig("syslog", { "syslog-address": "tcp+tls://h:1", "cache-disabled": "true", tag: "t" });
  });

  void test("gives containers that name no driver the daemon's driver and merges its options under theirs", () => {
    const def = { logDriver: "local", logOpts: { "max-file": "2", "max-size": "1m" } };
    assert.deepEqual(mergeLogConfig(undefined, def), { Type: "local", Config: { "max-file": "2", "max-size": "1m" } });
    assert.deepEqual(mergeLogConfig({ Type: "", Config: { "max-size": "5m" } }, def), { Type: "local", Config: { "max-size": "5m", "max-file": "2" } });
    assert.deepEqual(mergeLogConfig({ Type: "json-file" }, def), { Type: "json-file", Config: {} });
    assert.deepEqual(mergeLogConfig(null, {}), { Type: "json-file", Config: {} });
  });

  void test("checks the daemon's options only for a driver it knows (a plugin name is looked up at create)", () => {
    assert.throws(() => validateDaemonLogConfig("json-file", { foo: "bar" }), /^Error: failed to set log opts: unknown log opt 'foo' for json-file log driver$/);
    validateDaemonLogConfig("some-plugin", { foo: "bar" });
  });

  void test("renders the tag template fields and maps syslog facilities by name and number", () => {
    assert.equal(renderTag(undefined, c), "0123456789ab");
    assert.equal(renderTag("{{.Name}}/{{ .FullID }}/{{.ImageName}}", c), `web/${c.Id}/busybox:1`);
    assert.deepEqual(["daemon", "kern", "local0", "local7", "23", "", "local8", "24", "nope"].map(syslogFacility), [3, 0, 16, 23, 23, 3, undefined, undefined, undefined]);
  });

  void test("parses sizes as Docker does", () => {
    assert.deepEqual(["512", "2k", "10m", "1g", "1.5k", "10MB"].map(parseLogSize), [512, 2048, 10 * 1024 ** 2, 1024 ** 3, 1536, 10 * 1024 ** 2]);
    assert.equal(parseLogSize("abc"), undefined);
  });

  void test("local keeps dockerd's defaults: 20m, 5 files, compressed; json-file none", async () => {
    assert.deepEqual(await logTarget("local", {}, c), { file: "/d/local-logs/container.log", format: "local", maxSize: 20 * 1024 * 1024, maxFiles: 5, sinks: { format: "local", compress: true } });
    assert.deepEqual(await logTarget("local", { "max-file": "1", compress: "false" }, c), { file: "/d/local-logs/container.log", format: "local", maxSize: 20 * 1024 * 1024, maxFiles: 1, sinks: { format: "local", compress: false } });
    assert.deepEqual(await logTarget("json-file", {}, c), { file: `/d/${c.Id}-json.log`, format: "json" });
    await assert.rejects(logTarget("local", { "max-file": "x" }, c), /failed to initialize logging driver: invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax/);
    await assert.rejects(logTarget("json-file", { "max-file": "x" }, c), /failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax/);
  });

  void test("json-file compress: gzips rotated files only with max-size and max-file > 1, in dockerd 20.10's words otherwise", async () => {
    const t = await logTarget("json-file", { "max-size": "1k", "max-file": "3", compress: "true" }, c);
    assert.deepEqual(t, { file: `/d/${c.Id}-json.log`, format: "json", maxSize: 1024, maxFiles: 3, sinks: { compress: true } });
    assert.equal((await logTarget("json-file", { "max-size": "1k", "max-file": "3", compress: "false" }, c)).sinks, undefined);
    const init = "failed to initialize logging driver: ";
    const refused: [Record<string, string>, string][] = [
      [{ compress: "true" }, "compress cannot be true when max-file is less than 2 or max-size is not set"],
      [{ compress: "true", "max-file": "3" }, "compress cannot be true when max-file is less than 2 or max-size is not set"],
      [{ compress: "true", "max-size": "1k", "max-file": "1" }, "compress cannot be true when max-file is less than 2 or max-size is not set"],
      [{ compress: "maybe", "max-size": "1k", "max-file": "3" }, `strconv.ParseBool: parsing "maybe": invalid syntax`],
      [{ "max-size": "0", "max-file": "2" }, "max-size must be a positive number"],
    ];
    for (const [cfg, msg] of refused) await assert.rejects(logTarget("json-file", cfg, c), { message: init + msg }, JSON.stringify(cfg));
  });

  void test("syslog writes dockerd's cache unless cache-disabled, and then docker logs cannot read", async () => {
    const udp = await logTarget("syslog", { "syslog-address": "udp://127.0.0.1:5514", "syslog-facility": "local3", tag: "{{.Name}}" }, c);
    assert.equal(udp.file, "/d/container-cached.log");
    assert.deepEqual(udp.sinks?.syslog && { ...udp.sinks.syslog, hostname: "" }, { address: "udp://127.0.0.1:5514", format: "", tag: "web", hostname: "", facility: 19 });
    const off = await logTarget("syslog", { "syslog-address": "unixgram:///dev/log", "cache-disabled": "true" }, c);
    assert.equal(off.file, undefined);
    assert.equal(unreadable("syslog", { "cache-disabled": "true" }), true);
    assert.equal(unreadable("syslog", {}), false);
    assert.equal(unreadable("none", {}), true);
  });

  void test("adds the labels and env vars named by labels/env(-regex) as journald fields, keys as moby sanitizes them", () => {
    const withMeta = { ...c, labels: { "com.example.team": "db", other: "x" }, env: ["PATH=/bin", "stage=prod", "_x=1"] };
    const attrs = extraAttributes({ labels: "com.example.team,missing", "env-regex": "^(stage|_x)$" }, withMeta, journalKey);
    assert.deepEqual(attrs, { COM_EXAMPLE_TEAM: "db", STAGE: "prod", X: "1" });
  });

  void test("json-file lines carry dockerd's attrs: the named labels and env vars, and the tag only when asked for", async () => {
    const withMeta = { ...c, labels: { team: "db" }, env: ["STAGE=prod"] };
    assert.deepEqual((await logTarget("json-file", { labels: "team", env: "STAGE", tag: "{{.Name}}" }, withMeta)).sinks, { jsonAttrs: `{"STAGE":"prod","tag":"web","team":"db"}` });
    assert.equal((await logTarget("json-file", { labels: "nosuch" }, withMeta)).sinks, undefined);
  });

  void test("asks journalctl for the container's entries with docker logs' bounds", () => {
    // --details: every field but the journal's own ("_…") and the ones dockerd's reader leaves out
    const entry = { MESSAGE: "hi", PRIORITY: "6", __CURSOR: "s=1", _PID: "7", CONTAINER_ID: "abc", CONTAINER_ID_FULL: "abcd", CONTAINER_NAME: "w", CONTAINER_TAG: "t", SYSLOG_IDENTIFIER: "t", IMAGE_NAME: "busybox", TEAM: "db", BIN: [104, 105] };
    assert.deepEqual(journalAttrs(entry), { IMAGE_NAME: "busybox", TEAM: "db", BIN: "hi" });
    assert.deepEqual(journalctlArgs("abc", { follow: true, tail: 5, since: 1.5, until: 0 }, "/j"), ["--no-pager", "--output=json", "--all", "--directory=/j", "--since=@1.500000", "--lines=5", "--follow", "CONTAINER_ID_FULL=abc"]);
  });
});
