#!/usr/bin/env node
/**
 * Standalone registry entry (tests, scripts):
 *   node dist/src/registry/main.js serve --addr 127.0.0.1:5000 --root DIR [--htpasswd FILE]
 *     [--tls-cert FILE --tls-key FILE] [--delete] [--max-uploads N] [--max-blob-bytes N]
 *   node dist/src/registry/main.js gc --root DIR [--dry-run]
 * `serve` prints "listening on HOST:PORT" once it accepts connections.
 */
import { messageOf } from "../util/errors.js";
import { makeLogger } from "../util/log.js";
import { registryGc, startRegistry } from "./server.js";

function parseArgs(argv: string[]): { cmd: string; flags: Map<string, string> } {
  const [cmd = "", ...rest] = argv;
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (a === "--dry-run" || a === "--delete") flags.set(a.slice(2), "1");
    else {
      const v = rest[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      flags.set(a.slice(2), v);
    }
  }
  return { cmd, flags };
}

async function main(): Promise<void> {
  const { cmd, flags } = parseArgs(process.argv.slice(2));
  const root = flags.get("root");
  if (cmd === "serve") {
    if (!root) throw new Error("--root is required");
    const htpasswd = flags.get("htpasswd");
    const tlsCert = flags.get("tls-cert");
    const tlsKey = flags.get("tls-key");
    const count = (name: string): number | undefined => {
      const v = flags.get(name);
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--${name} wants a whole number of at least 1, not ${JSON.stringify(v)}`);
      return Number(v);
    };
    const maxUploads = count("max-uploads");
    const maxBlobBytes = count("max-blob-bytes");
    const reg = await startRegistry({
      addr: flags.get("addr") ?? "127.0.0.1:5000",
      root,
      ...(htpasswd ? { htpasswd } : {}),
      ...(tlsCert !== undefined ? { tlsCert } : {}),
      ...(tlsKey !== undefined ? { tlsKey } : {}),
      delete: flags.has("delete"),
      ...(maxUploads !== undefined ? { maxUploads } : {}),
      ...(maxBlobBytes !== undefined ? { maxBlobBytes } : {}),
      log: makeLogger("info"),
    });
    process.stdout.write(`listening on ${reg.addr}\n`);
    const stop = () => void reg.close().then(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    return;
  }
  if (cmd === "gc") {
    if (!root) throw new Error("--root is required");
    const r = await registryGc(root, { dryRun: flags.has("dry-run") });
    for (const d of r.deleted) process.stdout.write(`${flags.has("dry-run") ? "would delete" : "deleted"} blob ${d}\n`);
    process.stdout.write(`${r.deleted.length} blobs deleted, ${r.kept} kept, ${r.reclaimedBytes} bytes reclaimed, ${r.uploads.length} stale uploads removed\n`);
    return;
  }
  throw new Error("usage: main.js serve --addr HOST:PORT --root DIR [--htpasswd FILE] [--tls-cert FILE --tls-key FILE] [--delete] [--max-uploads N] [--max-blob-bytes N] | gc --root DIR [--dry-run]");
}

main().catch((e: unknown) => {
  process.stderr.write(`registry: ${messageOf(e)}\n`);
  process.exit(1);
});
