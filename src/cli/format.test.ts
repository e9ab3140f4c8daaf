import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ago,
  bytesSize,
  ellipsis,
  familiarReference,
  getTimestamp,
  goFormatG,
  goQuote,
  humanDuration,
  humanSize,
  parseFormat,
  parseGoDuration,
  ramInBytes,
  referenceError,
  renderFormatted,
  shortId,
  splitRepoTag,
  table,
  tabwrite,
} from "./format.js";

describe("sizes (go-units)", () => {
  it("formats %g like Go", () => {
    assert.equal(goFormatG(4.261234, 3), "4.26");
    assert.equal(goFormatG(100, 3), "100");
    assert.equal(goFormatG(1, 3), "1");
    assert.equal(goFormatG(999.999, 3), "1e+03");
    assert.equal(goFormatG(0.0001234, 3), "0.000123");
    assert.equal(goFormatG(0.00001234, 3), "1.23e-05");
    assert.equal(goFormatG(12.5, 4), "12.5");
  });

  it("humanSize uses decimal units with 3 significant digits", () => {
    assert.equal(humanSize(0), "0B");
    assert.equal(humanSize(999), "999B");
    assert.equal(humanSize(1000), "1kB");
    assert.equal(humanSize(4_261_234), "4.26MB");
    assert.equal(humanSize(2_140_000), "2.14MB");
    assert.equal(humanSize(12_345_678), "12.3MB");
    assert.equal(humanSize(123_456_789), "123MB");
    assert.equal(humanSize(1_500_000_000), "1.5GB");
    assert.equal(humanSize(999_999), "1e+03kB");
  });

  it("humanSize with precision 4 (units.HumanSize)", () => {
    assert.equal(humanSize(4_261_234, 4), "4.261MB");
    assert.equal(humanSize(0, 4), "0B");
  });

  it("bytesSize uses binary units", () => {
    assert.equal(bytesSize(8_192_000_000), "7.629GiB");
    assert.equal(bytesSize(1024), "1KiB");
    assert.equal(bytesSize(512), "512B");
  });

  it("ramInBytes parses docker memory sizes", () => {
    assert.equal(ramInBytes("512m"), 512 * 1024 * 1024);
    assert.equal(ramInBytes("1g"), 1024 ** 3);
    assert.equal(ramInBytes("1.5k"), 1536);
    assert.equal(ramInBytes("100"), 100);
    assert.equal(ramInBytes("64MB"), 64 * 1024 * 1024);
    assert.throws(() => ramInBytes("lots"));
  });
});

describe("durations", () => {
  it("humanDuration matches go-units", () => {
    assert.equal(humanDuration(500), "Less than a second");
    assert.equal(humanDuration(1000), "1 second");
    assert.equal(humanDuration(1999), "1 second");
    assert.equal(humanDuration(45_000), "45 seconds");
    assert.equal(humanDuration(60_000), "About a minute");
    assert.equal(humanDuration(119_000), "About a minute");
    assert.equal(humanDuration(5 * 60_000), "5 minutes");
    assert.equal(humanDuration(60 * 60_000), "About an hour");
    assert.equal(humanDuration(5 * 3_600_000), "5 hours");
    assert.equal(humanDuration(3 * 86_400_000), "3 days");
    assert.equal(humanDuration(20 * 86_400_000), "2 weeks");
    assert.equal(humanDuration(90 * 86_400_000), "3 months");
    assert.equal(humanDuration(800 * 86_400_000), "2 years");
  });

  it("ago formats a unix time relative to now", () => {
    const now = 1_700_000_000_000;
    assert.equal(ago(now / 1000 - 3, now), "3 seconds ago");
    assert.equal(ago(now / 1000, now), "Less than a second ago");
  });

  it("parses Go durations", () => {
    assert.equal(parseGoDuration("10s"), 10_000);
    assert.equal(parseGoDuration("1h30m"), 5_400_000);
    assert.equal(parseGoDuration("1.5h"), 5_400_000);
    assert.equal(parseGoDuration("300ms"), 300);
    assert.equal(parseGoDuration("42"), undefined);
    assert.equal(parseGoDuration("2013-01-02"), undefined);
  });

  it("getTimestamp converts --since values", () => {
    const now = 1_700_000_000_000;
    assert.equal(getTimestamp("10m", now), String(1_700_000_000 - 600));
    assert.equal(getTimestamp("1700000000", now), "1700000000");
    assert.equal(getTimestamp("1700000000.5", now), "1700000000.5");
    assert.equal(getTimestamp("2013-01-02T13:23:37Z", now), "1357133017.000000000");
    assert.equal(getTimestamp("2013-01-02T13:23:37.5Z", now), "1357133017.500000000");
    assert.throws(() => getTimestamp("yesterday", now), /failed to parse value as time or duration/);
  });
});

describe("strings", () => {
  it("shortId drops the algorithm and keeps 12 characters", () => {
    assert.equal(shortId("sha256:51b29afac4ffe2bb072a25f4245954745b6a05a3"), "51b29afac4ff");
    assert.equal(shortId("2547b9c126ccb05788222848fa446708d4198d39"), "2547b9c126cc");
  });

  it("ellipsis cuts with …", () => {
    assert.equal(ellipsis("sh -c 'echo hello world'", 20), "sh -c 'echo hello w…");
    assert.equal(ellipsis("short", 20), "short");
    assert.equal(ellipsis("exactly-twenty-chars", 20), "exactly-twenty-chars");
  });

  it("goQuote quotes like strconv.Quote", () => {
    assert.equal(goQuote(`sh -c "exit 3"`), `"sh -c \\"exit 3\\""`);
    assert.equal(goQuote("a\tb\n"), `"a\\tb\\n"`);
    assert.equal(goQuote("x…"), `"x…"`);
    assert.equal(goQuote("\x01"), `"\\x01"`);
  });

  it("familiarReference shortens docker.io names and adds :latest", () => {
    assert.equal(familiarReference("busybox"), "busybox:latest");
    assert.equal(familiarReference("docker.io/library/busybox:1.36"), "busybox:1.36");
    assert.equal(familiarReference("localhost:5000/x"), "localhost:5000/x:latest");
    assert.equal(familiarReference("x@sha256:abc"), "x@sha256:abc");
  });

  it("splitRepoTag finds the tag after the last slash", () => {
    assert.deepEqual(splitRepoTag("busybox:latest"), { repo: "busybox", tag: "latest" });
    assert.deepEqual(splitRepoTag("localhost:5000/x"), { repo: "localhost:5000/x", tag: "" });
    assert.deepEqual(splitRepoTag("localhost:5000/x:v1"), { repo: "localhost:5000/x", tag: "v1" });
  });

  it("referenceError validates image references", () => {
    assert.equal(referenceError("busybox:latest"), undefined);
    assert.equal(referenceError("localhost:5000/a/b-c:v1.0"), undefined);
    assert.equal(referenceError("Busybox"), "invalid reference format: repository name (library/Busybox) must be lowercase");
    assert.equal(referenceError("bad name"), "invalid reference format");
    assert.equal(referenceError("x:"), "invalid reference format");
  });
});

describe("tables", () => {
  it("pads cells like tabwriter(10, 1, 3)", () => {
    const out = table([
      ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
      ["busybox", "latest", "51b29afac4ff", "5 seconds ago", "2.14MB"],
    ]);
    assert.equal(
      out,
      "REPOSITORY   TAG       IMAGE ID       CREATED         SIZE\n" + "busybox      latest    51b29afac4ff   5 seconds ago   2.14MB\n",
    );
  });

  it("does not pad the last cell and counts runes", () => {
    assert.equal(tabwrite("a\tb\nééé\tc\n"), "a         b\nééé       c\n");
  });

  it("uses other widths for version output", () => {
    assert.equal(tabwrite("Client:\n Version:\t1\n API version:\t1.47\n", 20, 1), "Client:\n Version:           1\n API version:       1.47\n");
  });
});

describe("--format", () => {
  const headers = { ID: "CONTAINER ID", Names: "NAMES" };
  const items = [
    { ID: "abc", Names: "web" },
    { ID: "def", Names: "db" },
  ];

  it("recognises table, json and raw formats", () => {
    assert.deepEqual(parseFormat("table {{.ID}}\\t{{.Names}}"), { kind: "table", template: "{{.ID}}\t{{.Names}}" });
    assert.deepEqual(parseFormat("json"), { kind: "json", template: "{{json .}}" });
    assert.deepEqual(parseFormat("{{.ID}}"), { kind: "raw", template: "{{.ID}}" });
  });

  it("renders a table with headers", () => {
    assert.equal(renderFormatted(items, "table {{.ID}}\\t{{.Names}}", headers, ""), "CONTAINER ID   NAMES\nabc            web\ndef            db\n");
  });

  it("renders the default table for a bare 'table'", () => {
    assert.equal(renderFormatted(items, "table", headers, "{{.Names}}"), "NAMES\nweb\ndb\n");
  });

  it("renders raw templates and json lines", () => {
    assert.equal(renderFormatted(items, "{{.ID}}: {{.Names}}", headers, ""), "abc: web\ndef: db\n");
    assert.equal(renderFormatted(items, "json", headers, ""), '{"ID":"abc","Names":"web"}\n{"ID":"def","Names":"db"}\n');
  });

  it("keeps function names in headers", () => {
    assert.equal(renderFormatted(items, "table {{upper .Names}}", headers, ""), "NAMES\nWEB\nDB\n");
  });
});
