/**
 * commit (a container's changes as a new image) and export (its filesystem as a
 * tar stream, to stdout or to a file written atomically).
 */
import type { Command } from "commander";
import { collect, getClient, outln } from "../context.js";
import { outputFile, writeOutput } from "../output.js";
import { referenceError, splitRepoTag } from "../format.js";

const enc = encodeURIComponent;

export interface CommitFlags {
  author?: string;
  change?: string[];
  message?: string;
  pause: boolean;
}

/** The POST /commit query, as docker's client builds it from the flags and the reference. */
export function commitQuery(container: string, reference: string | undefined, f: CommitFlags): Record<string, string | string[] | undefined> {
  let repo: string | undefined;
  let tag: string | undefined;
  if (reference !== undefined && reference !== "") {
    const err = referenceError(reference);
    if (err) throw new Error(err);
    if (reference.includes("@")) throw new Error("refusing to create a tag with a digest reference");
    const parts = splitRepoTag(reference);
    repo = parts.repo.replace(/^(docker\.io|index\.docker\.io)\/(library\/)?/, "");
    tag = parts.tag || "latest";
  }
  return {
    container,
    repo,
    tag,
    comment: f.message,
    author: f.author,
    changes: f.change && f.change.length > 0 ? f.change : undefined,
    pause: f.pause === false ? "0" : undefined,
  };
}

export function registerCommit(parent: Command): void {
  parent
    .command("commit")
    .description("Create a new image from a container's changes")
    .usage("[OPTIONS] CONTAINER [REPOSITORY[:TAG]]")
    .option("-a, --author <string>", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    .option("-c, --change <list>", "Apply Dockerfile instruction to the created image", collect)
    .option("-m, --message <string>", "Commit message")
    .option("-p, --pause", "Pause container during commit (default true)")
    .option("--no-pause", "Do not pause the container during commit")
    .argument("<container>")
    .argument("[reference]")
    .action(async (container: string, reference: string | undefined, flags: CommitFlags) => {
      const r = await getClient().post<{ Id: string }>("/commit", commitQuery(container, reference, flags));
      outln(r.Id);
    });
}

export function registerExport(parent: Command): void {
  parent
    .command("export")
    .description("Export a container's filesystem as a tar archive")
    .usage("[OPTIONS] CONTAINER")
    .option("-o, --output <string>", "Write to a file, instead of STDOUT")
    .argument("<container>")
    .action(async (container: string, flags: { output?: string }) => {
      const file = outputFile(flags.output, "failed to export container", false);
      const res = await getClient().request("GET", `/containers/${enc(container)}/export`);
      await writeOutput(res, file);
    });
}
