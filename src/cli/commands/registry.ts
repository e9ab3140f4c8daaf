/** `berth registry serve|gc` (the OCI distribution server) and `berth system check`. */
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_MAX_BLOB_BYTES, DEFAULT_MAX_UPLOADS, DEFAULT_SESSION_TTL_MS, registryGc, startRegistry } from "../../registry/index.js";
import { makeLogger } from "../../util/log.js";
import { errln, getClient, outln } from "../context.js";
import { parseGoDuration, ramInBytes } from "../format.js";

interface ServeFlags {
  addr: string;
  root: string;
  htpasswd?: string;
  tlsCert?: string;
  tlsKey?: string;
  delete?: boolean;
  maxUploads: number;
  maxBlobSize: number;
  uploadTtl: number;
}

function positiveInt(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("want a whole number of at least 1");
  return Number(v);
}

function size(v: string): number {
  let n: number;
  try {
    n = ramInBytes(v);
  } catch {
    throw new InvalidArgumentError("want a size such as 512m or 10g");
  }
  if (n < 1) throw new InvalidArgumentError("want a size of at least 1 byte");
  return n;
}

function duration(v: string): number {
  const ms = parseGoDuration(v);
  if (ms === undefined || ms < 1000) throw new InvalidArgumentError("want a duration of at least 1s, such as 30m or 1h");
  return ms;
}

export function registerRegistry(program: Command): void {
  const reg = program.command("registry").description("Run an OCI distribution registry");
  reg
    .command("serve")
    .description("Serve the OCI distribution API from a directory")
    .option("--addr <host:port>", "address to listen on", "127.0.0.1:5000")
    .option("--root <dir>", "storage directory", "/var/lib/berth-registry")
    .option("--htpasswd <file>", "require basic auth with these users (bcrypt hashes, htpasswd -B; other entries are ignored); off loopback only with TLS")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (chain)")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .option("--delete", "allow DELETE of manifests, tags and blobs (off: 405 UNSUPPORTED, as distribution)")
    .option("--max-uploads <n>", "upload sessions open at once; more get 429", positiveInt, DEFAULT_MAX_UPLOADS)
    .addOption(new Option("--max-blob-size <size>", "largest blob accepted (e.g. 512m, 20g); larger get 413").argParser(size).default(DEFAULT_MAX_BLOB_BYTES, "10g"))
    .addOption(new Option("--upload-ttl <duration>", "upload sessions idle this long expire (e.g. 30m, 2h)").argParser(duration).default(DEFAULT_SESSION_TTL_MS, "1h"))
    .action(async (flags: ServeFlags) => {
      const h = await startRegistry({
        addr: flags.addr,
        root: flags.root,
        ...(flags.htpasswd ? { htpasswd: flags.htpasswd } : {}),
        ...(flags.tlsCert !== undefined ? { tlsCert: flags.tlsCert } : {}),
        ...(flags.tlsKey !== undefined ? { tlsKey: flags.tlsKey } : {}),
        delete: flags.delete ?? false,
        maxUploads: flags.maxUploads,
        maxBlobBytes: flags.maxBlobSize,
        uploadTtlMs: flags.uploadTtl,
        log: makeLogger("info"),
      });
      outln(`berth registry listening on ${h.addr}${h.url.startsWith("https:") ? " (TLS)" : ""}, storage ${flags.root}`);
      await new Promise<void>((resolve) => {
        const stop = () => void h.close().then(resolve, resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
  reg
    .command("gc")
    .description("Remove blobs no manifest references")
    .option("--root <dir>", "storage directory", "/var/lib/berth-registry")
    .option("--dry-run", "only list what would be removed")
    .action(async (flags: { root: string; dryRun?: boolean }) => {
      const r = await registryGc(flags.root, { dryRun: flags.dryRun ?? false });
      for (const d of r.deleted) outln(`${flags.dryRun ? "would delete" : "deleted"} ${d}`);
      outln(`${r.deleted.length} blob(s), ${r.reclaimedBytes} bytes${flags.dryRun ? " reclaimable" : " reclaimed"}; ${r.kept} kept`);
    });
}

interface CheckResult {
  problems: { area: string; id: string; problem: string }[];
  checked: Record<string, number>;
}

export function registerSystemCheck(system: Command): void {
  system
    .command("check")
    .description("Verify the image store, container records, mounts, runtime state and cgroups")
    .option("--no-blobs", "skip re-hashing every blob")
    .action(async (flags: { blobs: boolean }) => {
      const r = await getClient().get<CheckResult>("/berth/system/check", { blobs: flags.blobs ? "1" : "0" });
      outln(`checked: ${Object.entries(r.checked).map(([k, v]) => `${v} ${k}`).join(", ")}`);
      if (r.problems.length === 0) {
        outln("no problems found");
        return;
      }
      for (const p of r.problems) errln(`${p.area}: ${p.id}: ${p.problem}`);
      process.exitCode = 1;
    });
}
