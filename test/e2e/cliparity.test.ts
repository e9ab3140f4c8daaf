/**
 * CLI parity: every line of the table (cliparity.table.ts) is run with the real
 * docker CLI and with berth against one berthd; stdout, stderr and the exit
 * status must agree after normalising ids, times and the program name, unless the
 * row says why berth deliberately differs. Prints compared / identical / different.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { BERTH, DOCKER, type RunResult, run, withDaemon } from "./harness.js";
import { type ParityRow, listsAll, normalise, splitLine } from "./cliparity.js";
import { PARITY_FIXTURES, PARITY_ROWS } from "./cliparity.table.js";

describe("berth CLI parity with the docker CLI against one berthd", () => {
  const d = withDaemon();
  const env = (): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: `${d.dir}/docker-config`, TZ: "UTC" };
    delete e["DOCKER_HOST"];
    delete e["BERTH_HOST"];
    return e;
  };
  const side = (which: "docker" | "berth", line: string, input?: string): Promise<RunResult> => {
    const args = ["-H", `unix://${d.sock}`, ...splitLine(line.replaceAll("@DIR@", d.dir))];
    const opts = { env: env(), timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) };
    return which === "docker" ? run(DOCKER, args, opts) : run(process.execPath, ["--", BERTH, ...args], opts);
  };
  const setupLine = async (line: string): Promise<void> => {
    const r = await side("docker", line);
    if (r.code !== 0 && !line.startsWith("rm ") && !/ rm /.test(` ${line} `)) throw new Error(`set-up "${line}" failed (${r.code}): ${r.stderr}`);
  };

  before(async () => {
    await fs.writeFile(path.join(d.dir, "env"), "# comment\nFROMFILE=from the file\n");
    await fs.writeFile(path.join(d.dir, "labels"), "lf=1\nlg=two\n");
    for (const line of PARITY_FIXTURES) await setupLine(line);
  });

  // ~60 s on an idle 2-core machine, ~80 s at load 9; the test's timeout is the bound.
  it("gives docker's stdout, stderr and exit status for every command line of the table", { timeout: 150_000 }, async () => {
    const started = Date.now();
    const mismatches: string[] = [];
    let identical = 0;
    let different = 0;
    const runSide = async (row: ParityRow, which: "docker" | "berth"): Promise<RunResult> => {
      // Each side's output names its own pc-x as the row does.
      for (const s of row.setup ?? []) await setupLine(s);
      const r = await side(which, row.cmd, row.input);
      for (const a of row.after ?? []) {
        const x = await side("docker", a);
        r.stdout += `--after ${a}: exit ${x.code}\n${x.stdout}${x.stderr}`;
      }
      for (const c of row.cleanup ?? []) await side("docker", c);
      const same = (t: string) => t.replace(/\bpc-x\d+[db]\b/g, "pc-x");
      return { code: r.code, stdout: same(r.stdout), stderr: same(r.stderr) };
    };
    const runRow = async (template: ParityRow, index: number): Promise<void> => {
      // What a row creates is called pc-x: made unique per row and side, so that rows and sides run at once.
      const own = (which: "docker" | "berth"): ParityRow => {
        const o = (line: string) => line.replace(/\bpc-x\b/g, `pc-x${index}${which[0] as string}`);
        return {
          ...template,
          cmd: o(template.cmd),
          ...(template.setup ? { setup: template.setup.map(o) } : {}),
          ...(template.after ? { after: template.after.map(o) } : {}),
          ...(template.cleanup ? { cleanup: template.cleanup.map(o) } : {}),
        };
      };
      let dr: RunResult;
      let br: RunResult;
      try {
        if (template.mutates || listsAll(template.cmd)) {
          dr = await runSide(own("docker"), "docker");
          br = await runSide(own("berth"), "berth");
        } else [dr, br] = await Promise.all([runSide(own("docker"), "docker"), runSide(own("berth"), "berth")]);
      } catch (e) {
        mismatches.push(`### ${template.cmd}\n${(e as Error).message}`);
        return;
      }
      if (template.different) {
        different++;
        return;
      }
      const want = `exit ${dr.code}\n--stdout--\n${normalise(dr.stdout)}--stderr--\n${normalise(dr.stderr)}`;
      const got = `exit ${br.code}\n--stdout--\n${normalise(br.stdout)}--stderr--\n${normalise(br.stderr)}`;
      if (want === got) identical++;
      else mismatches.push(`### ${template.cmd}\n--- docker\n${want}\n--- berth\n${got}`);
    };
    // CLIPARITY_FILTER=regexp runs only the rows whose command line matches (while working on some verbs).
    const only = process.env["CLIPARITY_FILTER"] ? new RegExp(process.env["CLIPARITY_FILTER"]) : undefined;
    const indexed = PARITY_ROWS.map((row, i) => ({ row, i })).filter(({ row }) => !only || only.test(row.cmd));
    for (const { row, i } of indexed.filter(({ row }) => listsAll(row.cmd))) await runRow(row, i);
    const queue = indexed.filter(({ row }) => !listsAll(row.cmd));
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) await runRow(next.row, next.i);
    };
    await Promise.all([worker(), worker(), worker()]);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`cli parity: ${indexed.length} command lines compared, ${identical} identical, ${different} deliberately different, ${mismatches.length} mismatched (${seconds} s)`);
    assert.equal(mismatches.length, 0, mismatches.join("\n\n"));
  });
});
