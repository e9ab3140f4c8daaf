/** `berth registry serve|gc` (the OCI distribution server) and `berth system check`. */
import type { Command } from "commander";
import { registryGc, startRegistry } from "../../registry/index.js";
import { errln, getClient, outln } from "../context.js";

export function registerRegistry(program: Command): void {
  const reg = program.command("registry").description("Run an OCI distribution registry");
  reg
    .command("serve")
    .description("Serve the OCI distribution API from a directory")
    .option("--addr <host:port>", "address to listen on", "127.0.0.1:5000")
    .option("--root <dir>", "storage directory", "/var/lib/berth-registry")
    .option("--htpasswd <file>", "require basic auth with these users (bcrypt or {SHA} hashes)")
    .action(async (flags: { addr: string; root: string; htpasswd?: string }) => {
      const h = await startRegistry({ addr: flags.addr, root: flags.root, ...(flags.htpasswd ? { htpasswd: flags.htpasswd } : {}) });
      outln(`berth registry listening on ${h.addr}:${h.port} (storage ${flags.root})`);
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
