/**
 * `docker load` of the pre-1.10 archive layout (one directory per layer with
 * `json`, `layer.tar` and `VERSION`, and a `repositories` file naming the tags),
 * which dockerd still loads. Like dockerd's legacy loader, each layer becomes an
 * image (its parent the layer below) whose config is made from the layer's v1
 * JSON: its keys (less id, parent, Size, parent_id, layer_id, throwaway) plus
 * rootfs and history, in Go's encoding (keys sorted, raw values compacted with
 * HTML-safe escapes) so that the image ids are the ones dockerd computes.
 * Hand-written: this is Go's json output byte for byte, which no JS library makes.
 */
import { invalid } from "../util/errors.js";

/** One image of a legacy archive, parents first. */
export interface LegacyLayer {
  v1Id: string;
  /** The layer.tar inside the archive. */
  layer: string;
  /** The v1 JSON bytes. */
  json: string;
  /** Index (in the returned list) of the parent image, if any. */
  parent?: number;
}

const V1_ID = /^[a-f0-9]{64}$/;

/** The layers the `repositories` tags reach, in load order, and the tags (name:tag → index). */
export async function legacyLayers(
  repositories: unknown,
  readJson: (v1Id: string) => Promise<string>,
): Promise<{ layers: LegacyLayer[]; tags: [string, number][] }> {
  if (typeof repositories !== "object" || repositories === null) throw invalid("invalid archive: repositories is not an object");
  const layers: LegacyLayer[] = [];
  const index = new Map<string, number>();
  const load = async (id: string, depth: number): Promise<number> => {
    const known = index.get(id);
    if (known !== undefined) return known;
    if (!V1_ID.test(id)) throw invalid(`invalid archive: bad layer id ${JSON.stringify(id)}`);
    if (depth > 500) throw invalid("invalid archive: layer chain too long");
    const json = await readJson(id);
    let parentId: unknown;
    try {
      parentId = (JSON.parse(json) as { parent?: unknown }).parent;
    } catch {
      throw invalid(`invalid archive: ${id}/json is not valid JSON`);
    }
    const parent = typeof parentId === "string" && parentId !== "" ? await load(parentId, depth + 1) : undefined;
    layers.push({ v1Id: id, layer: `${id}/layer.tar`, json, ...(parent !== undefined ? { parent } : {}) });
    index.set(id, layers.length - 1);
    return layers.length - 1;
  };
  const tags: [string, number][] = [];
  for (const [repo, tagMap] of Object.entries(repositories as Record<string, unknown>)) {
    if (typeof tagMap !== "object" || tagMap === null) throw invalid("invalid archive: repositories entry is not an object");
    for (const [tag, id] of Object.entries(tagMap as Record<string, unknown>)) {
      if (typeof id !== "string") throw invalid("invalid archive: repositories entry is not a layer id");
      tags.push([`${repo}:${tag}`, await load(id, 0)]);
    }
  }
  return { layers, tags };
}

export interface HistoryEntry {
  created: string;
  author?: string;
  created_by?: string;
  comment?: string;
}

/** dockerd's v1.HistoryFromConfig: created, author, the build command (container_config.Cmd joined), comment. */
export function historyFromV1(json: string): HistoryEntry {
  const v = JSON.parse(json) as { created?: unknown; author?: unknown; comment?: unknown; container_config?: { Cmd?: unknown } };
  const cmd = v.container_config?.Cmd;
  const createdBy = Array.isArray(cmd) ? cmd.map(String).join(" ") : "";
  return {
    created: goTime(typeof v.created === "string" ? v.created : ""),
    ...(typeof v.author === "string" && v.author !== "" ? { author: v.author } : {}),
    ...(createdBy !== "" ? { created_by: createdBy } : {}),
    ...(typeof v.comment === "string" && v.comment !== "" ? { comment: v.comment } : {}),
  };
}

/** dockerd's v1.MakeConfigFromV1Config, byte for byte. */
export function configFromV1(json: string, diffIds: string[], history: HistoryEntry[]): Buffer {
  let fields = topLevelFields(json);
  const version = (JSON.parse(json) as { docker_version?: unknown }).docker_version;
  // Images from before docker 1.8.3 were re-encoded through dockerd's V1Image type first.
  if (versionLess(typeof version === "string" ? version : "", "1.8.3")) fields = asV1Image(fields, json);
  for (const k of ["id", "parent", "Size", "parent_id", "layer_id", "throwaway"]) fields.delete(k);
  fields.set("rootfs", `{"type":"layers","diff_ids":[${diffIds.map(goString).join(",")}]}`);
  const hist = history.map((h) => {
    const parts = [`"created":${goString(h.created)}`];
    if (h.author !== undefined) parts.push(`"author":${goString(h.author)}`);
    if (h.created_by !== undefined) parts.push(`"created_by":${goString(h.created_by)}`);
    if (h.comment !== undefined) parts.push(`"comment":${goString(h.comment)}`);
    return `{${parts.join(",")}}`;
  });
  fields.set("history", `[${hist.join(",")}]`);
  const keys = [...fields.keys()].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return Buffer.from(`{${keys.map((k) => `${goString(k)}:${fields.get(k) as string}`).join(",")}}`);
}

const DEFAULT_CONTAINER_CONFIG =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';

/** The fields dockerd's V1Image type keeps (with its omitempty rules). */
function asV1Image(fields: Map<string, string>, json: string): Map<string, string> {
  const v = JSON.parse(json) as Record<string, unknown>;
  const out = new Map<string, string>();
  for (const k of ["id", "parent", "comment", "container", "docker_version", "author", "architecture", "variant", "os"]) {
    if (typeof v[k] === "string" && v[k] !== "") out.set(k, goString(v[k]));
  }
  out.set("created", goString(goTime(typeof v["created"] === "string" ? v["created"] : "")));
  const cc = fields.get("container_config");
  out.set("container_config", cc !== undefined && cc !== "null" ? cc : DEFAULT_CONTAINER_CONFIG);
  const cfg = fields.get("config");
  if (cfg !== undefined && cfg !== "null") out.set("config", cfg);
  if (typeof v["Size"] === "number" && v["Size"] !== 0) out.set("Size", String(Math.trunc(v["Size"])));
  return out;
}

/** moby's versions.LessThan: dot-separated numbers, a part that is not one counts as 0. */
function versionLess(a: string, b: string): boolean {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = /^\d+$/.test(pa[i] ?? "") ? Number(pa[i]) : 0;
    const y = /^\d+$/.test(pb[i] ?? "") ? Number(pb[i]) : 0;
    if (x !== y) return x < y;
  }
  return false;
}

/** Go's time.Time JSON (RFC 3339 with trailing zeros of the fraction dropped); the zero time when unparsable. */
function goTime(s: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return "0001-01-01T00:00:00Z";
  const frac = (m[2] ?? "").replace(/0+$/, "");
  return `${m[1]}${frac ? `.${frac}` : ""}${m[3] === "+00:00" ? "Z" : m[3]}`;
}

/** Go's json string encoding (HTML-safe). */
function goString(s: unknown): string {
  return JSON.stringify(String(s)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

/** Go's json.Compact with HTML escaping, as json.Marshal writes a RawMessage. */
function goCompact(raw: string): string {
  let out = "";
  let inStr = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (inStr) {
      if (c === "\\") {
        out += c + (raw[++i] ?? "");
        continue;
      }
      if (c === '"') inStr = false;
      out += /[<>&\u2028\u2029]/.test(c) ? `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}` : c;
    } else if (c === '"') {
      inStr = true;
      out += c;
    } else if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") out += c;
  }
  return out;
}

/** The top-level members of a JSON object, each value as its compacted raw text (last duplicate wins). */
function topLevelFields(json: string): Map<string, string> {
  try {
    JSON.parse(json);
  } catch {
    throw invalid("invalid archive: a layer's json is not valid JSON");
  }
  const out = new Map<string, string>();
  let i = 0;
  const ws = (): void => {
    while (i < json.length && " \t\n\r".includes(json[i] as string)) i++;
  };
  const skipString = (): void => {
    i++;
    while (i < json.length && json[i] !== '"') i += json[i] === "\\" ? 2 : 1;
    i++;
  };
  const skipValue = (): void => {
    const c = json[i];
    if (c === '"') return skipString();
    if (c === "{" || c === "[") {
      let depth = 0;
      do {
        if (json[i] === '"') {
          skipString();
          continue;
        }
        if (json[i] === "{" || json[i] === "[") depth++;
        else if (json[i] === "}" || json[i] === "]") depth--;
        i++;
      } while (depth > 0 && i < json.length);
      return;
    }
    while (i < json.length && !",}] \t\n\r".includes(json[i] as string)) i++;
  };
  ws();
  if (json[i] !== "{") throw invalid("invalid archive: a layer's json is not an object");
  i++;
  for (;;) {
    ws();
    if (json[i] === "}") break;
    const ks = i;
    skipString();
    const key = JSON.parse(json.slice(ks, i)) as string;
    ws();
    i++; // ':'
    ws();
    const vs = i;
    skipValue();
    out.set(key, goCompact(json.slice(vs, i)));
    ws();
    if (json[i] === ",") i++;
  }
  return out;
}
