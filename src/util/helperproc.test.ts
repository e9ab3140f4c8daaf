import { test } from "node:test";
import assert from "node:assert/strict";
import { HelperProcess } from "./helperproc.js";

/**
 * A stand-in helper: answers each input line with "<its pid> <line>", exits 3 on "exit",
 * stays silent on "hang"; the protocol below fails a request whose line starts with "bad".
 */
const SCRIPT = 'while read l; do case "$l" in exit) exit 3;; hang) ;; *) echo "$$ $l";; esac; done';

function client(timeoutMs = 5000): { helper: HelperProcess; ask: (line: string) => Promise<string> } {
  let out = "";
  let answer = "";
  const helper = new HelperProcess({
    name: "test helper",
    command: "sh",
    args: ["-c", SCRIPT],
    timeoutMs,
    onStart: () => {
      out = "";
    },
    onStdout: (text) => {
      out += text;
      for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
        answer = out.slice(0, nl);
        out = out.slice(nl + 1);
        helper.finish(answer.split(" ")[1]?.startsWith("bad") ? new Error(`refused: ${answer}`) : undefined);
      }
    },
    exitDetail: () => "the detail",
  });
  const ask = async (line: string): Promise<string> => {
    await helper.request(() => `${line}\n`, `asking ${line}`);
    return answer;
  };
  return { helper, ask };
}

test("requests are answered one after the other by one helper; a request's own error reaches only its caller", async () => {
  const { helper, ask } = client();
  try {
    const results = await Promise.allSettled([ask("a"), ask("bad-b"), ask("c")]);
    assert.equal(results[0]?.status, "fulfilled");
    assert.equal(results[2]?.status, "fulfilled");
    const [a, c] = [results[0], results[2]].map((r) => (r as PromiseFulfilledResult<string>).value);
    assert.match(a ?? "", /^\d+ a$/);
    assert.match(c ?? "", /^\d+ c$/);
    assert.equal(a?.split(" ")[0], c?.split(" ")[0], "the same process answered");
    assert.equal(results[1]?.status, "rejected");
    assert.match(String((results[1] as PromiseRejectedResult).reason), /refused: \d+ bad-b/);
  } finally {
    helper.close();
  }
});

test("a helper that exits fails the request in flight with its exit code and detail, and a new helper serves the next request", async () => {
  const { helper, ask } = client();
  try {
    const before = (await ask("x")).split(" ")[0];
    await assert.rejects(ask("exit"), (e: unknown) => (e as Error).name === "EngineError" && (e as Error).message === "asking exit: test helper exited (3): the detail");
    const after = (await ask("y")).split(" ")[0];
    assert.notEqual(after, before, "a new process answers");
  } finally {
    helper.close();
  }
});

test("a helper that does not answer within the timeout is killed, its request fails, and a new helper serves the next request", async () => {
  const { helper, ask } = client(300);
  try {
    const before = (await ask("x")).split(" ")[0];
    await assert.rejects(ask("hang"), /^EngineError: asking hang: test helper did not answer within 300 ms$/);
    const after = (await ask("y")).split(" ")[0];
    assert.notEqual(after, before, "a new process answers");
    // The killed helper's exit (it comes later) does not fail the new helper's requests.
    assert.match(await ask("z"), new RegExp(`^${after} z$`));
  } finally {
    helper.close();
  }
});
