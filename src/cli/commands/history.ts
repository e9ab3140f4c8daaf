/**
 * `history`: an image's layers as docker's history formatter shows them
 * (cli/command/formatter/history.go): sizes and ages human readable unless -H=false.
 */
import type { Command } from "commander";
import { getClient, out } from "../context.js";
import { ago, ellipsis, formatRfc3339Local, humanSize, renderFormatted, shortId } from "../format.js";

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags?: string[] | null;
  Size: number;
  Comment: string;
}

const HISTORY_HEADERS: Record<string, string> = {
  ID: "IMAGE",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  Size: "SIZE",
  Comment: "COMMENT",
};

/** The `--format` context of one layer (keys sorted, as `{{json .}}` prints them). */
export function historyContext(h: HistoryItem, trunc: boolean, human: boolean, now = Date.now()): Record<string, unknown> {
  const createdAt = formatRfc3339Local(h.Created);
  const createdBy = h.CreatedBy.replace(/\t/g, " ");
  return {
    Comment: h.Comment,
    CreatedAt: createdAt,
    CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
    CreatedSince: human ? ago(h.Created, now) : createdAt,
    ID: trunc ? shortId(h.Id) : h.Id,
    Size: human ? humanSize(h.Size) : String(h.Size),
  };
}

export function registerHistory(parent: Command): void {
  parent
    .command("history")
    .description("Show the history of an image")
    .usage("[OPTIONS] IMAGE")
    .option("--format <string>", "Format output using a custom template")
    .option("-H, --human", "Print sizes and dates in human readable format (default true)")
    .option("--no-human", "Print sizes and dates as raw numbers and RFC 3339 times")
    .option("--no-trunc", "Don't truncate output")
    .option("--platform <string>", 'Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")')
    .option("-q, --quiet", "Only show image IDs")
    .argument("<image>")
    .action(async (image: string, flags: { format?: string; human: boolean; trunc: boolean; platform?: string; quiet?: boolean }) => {
      const path = `/images/${image.split("/").map(encodeURIComponent).join("/")}/history`;
      const list = await getClient().get<HistoryItem[]>(path, { platform: flags.platform ? JSON.stringify(platformObject(flags.platform)) : undefined });
      const trunc = flags.trunc !== false;
      const human = flags.human !== false;
      let format = flags.format ?? "";
      if (flags.quiet) format = "{{.ID}}";
      if (format === "") format = "table";
      const now = Date.now();
      out(renderFormatted(list.map((h) => historyContext(h, trunc, human, now)), format, HISTORY_HEADERS, `{{.ID}}\t{{.${human ? "CreatedSince" : "CreatedAt"}}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}`));
    });
}

/** "os[/arch[/variant]]" → the OCI platform object the API takes. */
export function platformObject(p: string): { os: string; architecture?: string; variant?: string } {
  const [os = "", architecture, variant] = p.split("/");
  return { os, ...(architecture ? { architecture } : {}), ...(variant ? { variant } : {}) };
}
