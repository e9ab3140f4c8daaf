import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProgressDisplay, StreamError, displayJsonStream, progressString } from "./progress.js";

function sink(tty: boolean, columns = 200): { out: { write: (s: string) => void; isTTY: boolean; columns: number }; text: () => string } {
  const parts: string[] = [];
  return { out: { write: (s: string) => void parts.push(s), isTTY: tty, columns }, text: () => parts.join("") };
}

describe("progress bar", () => {
  it("renders a bar with sizes on wide terminals", () => {
    const s = progressString({ current: 1_000_000, total: 4_000_000 }, 120);
    assert.equal(s, `[============>${" ".repeat(38)}]      1MB/4MB`);
  });

  it("omits the bar on narrow terminals", () => {
    assert.equal(progressString({ current: 2_000_000, total: 4_000_000 }, 80), "     2MB/4MB");
  });

  it("shows only the current size without a total", () => {
    assert.equal(progressString({ current: 1234 }, 120), " 1.234kB");
    assert.equal(progressString({}, 120), "");
  });

  it("uses units when given", () => {
    assert.equal(progressString({ current: 3, total: 10, units: "layers" }, 80), "3/10 layers");
  });
});

describe("ProgressDisplay", () => {
  it("prints plain lines off a terminal and drops progress updates", () => {
    const s = sink(false);
    const d = new ProgressDisplay(s.out);
    d.display({ status: "Pulling from library/busybox", id: "latest" });
    d.display({ status: "Pulling fs layer", id: "abc", progressDetail: {} });
    d.display({ status: "Downloading", id: "abc", progressDetail: { current: 5, total: 10 } });
    d.display({ status: "Download complete", id: "abc", progressDetail: {} });
    d.display({ status: "sha256:1234" });
    assert.equal(s.text(), "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Download complete\nsha256:1234\n");
  });

  it("updates per-id lines in place on a terminal", () => {
    const s = sink(true, 80);
    const d = new ProgressDisplay(s.out);
    d.display({ status: "Downloading", id: "a", progressDetail: { current: 1, total: 2 } });
    d.display({ status: "Downloading", id: "b", progressDetail: { current: 1, total: 4 } });
    d.display({ status: "Done", id: "a", progressDetail: {} });
    const text = s.text();
    // New ids add a line; updating the first id moves the cursor up two lines and back down.
    assert.ok(text.startsWith("\n\x1b[1A\x1b[2K\ra: Downloading       1B/2B\r\x1b[1B"));
    assert.ok(text.includes("\x1b[2A\x1b[2K\ra: Done \r\x1b[2B"));
  });

  it("throws on errorDetail", async () => {
    const s = sink(false);
    async function* msgs() {
      yield { status: "Pulling" };
      yield { errorDetail: { message: "pull access denied" }, error: "pull access denied" };
    }
    await assert.rejects(displayJsonStream(msgs(), s.out), (e: unknown) => e instanceof StreamError && e.message === "pull access denied");
    assert.equal(s.text(), "Pulling\n");
  });

  it("prints build stream output as is", () => {
    const s = sink(false);
    new ProgressDisplay(s.out).display({ stream: "Step 1/2 : FROM busybox\n" });
    assert.equal(s.text(), "Step 1/2 : FROM busybox\n");
  });
});
