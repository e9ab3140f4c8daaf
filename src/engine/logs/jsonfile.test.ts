/** The json-file reader: the whole log however far the client is behind, rotated files (gzipped or not) and --details. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { type LogReadOptions, detailsPrefix, queryEscape, readLogs } from "./jsonfile.js";

const all: LogReadOptions = { stdout: true, stderr: true, follow: false, tail: "all", since: 0, until: 0, timestamps: false, mux: false };
const jline = (log: string, extra: Record<string, unknown> = {}) => JSON.stringify({ log, stream: "stdout", ...extra, time: "2026-12-07T21:00:00.000000000Z" });

async function text(s: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-jsonlog-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void test("json-file: docker logs without -f returns every line of a log far larger than the stream buffer", () =>
  inDir(async (dir) => {
    const file = path.join(dir, "c-json.log");
    const lines = Array.from({ length: 20000 }, (_, i) => jline(`line-${i}\n`));
    writeFileSync(file, `${lines.join("\n")}\n`);
    const got = (await text(readLogs(file, all))).split("\n");
    assert.equal(got.length, 20001);
    assert.equal(got[19999], "line-19999");
  }));

void test("json-file: reads rotated files oldest first, gzipped (compress=true) or plain (gzip still running), then the live file; --tail spans them", () =>
  inDir(async (dir) => {
    const file = path.join(dir, "c-json.log");
    writeFileSync(`${file}.3.gz`, gzipSync(`${jline("a\n")}\n${jline("b\n")}\n`));
    writeFileSync(`${file}.2.gz`, gzipSync(`${jline("c\n")}\n`));
    writeFileSync(`${file}.1`, `${jline("d\n")}\n`);
    writeFileSync(file, `${jline("e\n")}\n`);
    assert.equal(await text(readLogs(file, all)), "a\nb\nc\nd\ne\n");
    assert.equal(await text(readLogs(file, { ...all, tail: 4 })), "b\nc\nd\ne\n");
    writeFileSync(`${file}.5.gz`, gzipSync(`${jline("lost\n")}\n`)); // after a gap: not part of this log
    assert.equal(await text(readLogs(file, { ...all, tail: 5 })), "a\nb\nc\nd\ne\n");
  }));

void test("json-file --details: each line after its attrs sorted by key and query-escaped as dockerd prints them, a bare space without attrs", () =>
  inDir(async (dir) => {
    const file = path.join(dir, "c-json.log");
    writeFileSync(file, `${jline("hi\n", { attrs: { tag: "web", STAGE: "prod", "a b": "x&y,z" } })}\n${jline("plain\n")}\n`);
    assert.equal(await text(readLogs(file, { ...all, details: true })), "STAGE=prod,a+b=x%26y%2Cz,tag=web hi\n plain\n");
    assert.equal(await text(readLogs(file, { ...all, details: true, timestamps: true, tail: 1 })), "2026-12-07T21:00:00.000000000Z  plain\n");
    assert.equal(detailsPrefix(undefined), " ");
    assert.equal(queryEscape("a b!*'()~._-é"), "a+b%21%2A%27%28%29~._-%C3%A9");
  }));
