/**
 * Legacy link names, as dockerd keeps them: `--link child:alias` on container
 * "parent" names the child also "/parent/alias" (listed among its Names, usable
 * wherever a container name is, removed with `docker rm --link parent/alias`),
 * and inspect shows the link as "/child:/parent/alias".
 */
import type { ContainerRecord } from "../types.js";

export interface LinkEntry {
  /** The linked container's name as given (without a leading "/"). */
  target: string;
  /** The alias; the target's name when none was given. */
  alias: string;
}

/** One HostConfig.Links entry: "name", "name:alias" or dockerd's "/name:/parent/alias". */
export function parseLinkEntry(entry: string): LinkEntry {
  const i = entry.indexOf(":");
  const target = (i < 0 ? entry : entry.slice(0, i)).replace(/^\//, "");
  const alias = i < 0 ? "" : entry.slice(i + 1).replace(/^.*\//, "");
  return { target, alias: alias || target };
}

/**
 * Every link name ("/parent/alias") of these containers, each with the id of the
 * container it names; lookup resolves a container name (with "/") to its record.
 */
export function linkNames(recs: Iterable<ContainerRecord>, lookup: (name: string) => ContainerRecord | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const parent of recs) {
    for (const l of parent.HostConfig.Links ?? []) {
      const { target, alias } = parseLinkEntry(l);
      const child = lookup(`/${target}`);
      if (child) out.set(`${parent.Name}/${alias}`, child.Id);
    }
  }
  return out;
}

/** Inspect's HostConfig.Links: "/child:/parent/alias" for each link whose target exists; null when none. */
export function inspectLinks(parent: ContainerRecord, lookup: (name: string) => ContainerRecord | undefined): string[] | null {
  const out: string[] = [];
  for (const l of parent.HostConfig.Links ?? []) {
    const { target, alias } = parseLinkEntry(l);
    const child = lookup(`/${target}`);
    if (child) out.push(`${child.Name}:${parent.Name}/${alias}`);
  }
  return out.length > 0 ? out : null;
}

/** The hosts file without the line a link wrote (names: alias, the target's hostname and name, in any order). */
export function hostsWithoutLink(text: string, names: string[]): string {
  const want = new Set(names.filter(Boolean));
  return text
    .split("\n")
    .filter((line) => {
      const fields = line.split(/\s+/).filter(Boolean).slice(1);
      return !(fields.length === want.size && fields.every((f) => want.has(f)));
    })
    .join("\n");
}
