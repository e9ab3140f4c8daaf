/**
 * GET /images/search: the registry v1 search API, as dockerd 20.10 asks it.
 * The index is docker.io's (https://index.docker.io/v1/) unless the term
 * names a registry host; another host's endpoint is pinged first over HTTPS,
 * then over HTTP if it is insecure (loopback or --insecure-registry). Filters
 * (is-automated, is-official, stars) apply to the index's answer. Hand-written:
 * a GET and a JSON parse; the v2 client (src/registry) has no v1 search.
 */
import { DIRECT, type Transport, isInsecureRegistry, parseRegistryAuth } from "../registry/index.js";
import { EngineError, invalid } from "../util/errors.js";
import { describeNetError } from "./distribution/errors.js";

export interface SearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  is_automated: boolean;
  description: string;
}

const TIMEOUT_MS = 15_000;

interface Got {
  status: number;
  body: string;
}

function get(transport: Transport, url: string, auth: string | undefined, signal?: AbortSignal): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = transport.request(new URL(url), { method: "GET", headers: { ...(auth ? { Authorization: auth } : {}), "User-Agent": "docker/28.0.0 go/go1.23 (berth)" }, timeout: TIMEOUT_MS, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > 8 << 20) req.destroy(new EngineError("internal", "search answer larger than 8 MiB"));
        else chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new EngineError("internal", "request timed out")));
    req.on("error", reject);
    req.end();
  });
}

const netText = (e: unknown, url: string): string => describeNetError(e, "GET", url) ?? `Get "${url}": ${e instanceof Error ? e.message : String(e)}`;

/** dockerd's invalid filter message: the name, and its value as Go prints it. */
const badFilter = (name: string, value?: string): EngineError => invalid(`Invalid filter '${name}${value === undefined ? "" : `=${value}`}'`);

export async function searchImages(
  q: { term: string; limit: number; filters: Record<string, string[]>; auth?: string; insecure: string[]; transport?: Transport },
  signal?: AbortSignal,
): Promise<SearchResult[]> {
  for (const k of Object.keys(q.filters)) if (!["is-automated", "is-official", "stars"].includes(k)) throw badFilter(k);
  const bool = (k: string): boolean | undefined => {
    const v = q.filters[k];
    if (v === undefined) return undefined;
    if (v.length === 1 && (v[0] === "true" || v[0] === "false")) return v[0] === "true";
    throw badFilter(k, `[${v.join(" ")}]`);
  };
  const automated = bool("is-automated");
  const official = bool("is-official");
  let stars = 0;
  for (const s of q.filters["stars"] ?? []) {
    if (!/^[+-]?\d+$/.test(s)) throw badFilter("stars", s);
    stars = Math.max(stars, Number(s));
  }
  if (q.limit < 1 || q.limit > 100) throw invalid(`Limit ${q.limit} is outside the range of [1, 100]`);

  const transport = q.transport ?? DIRECT;
  const [first = "", rest] = q.term.split(/\/(.*)/s);
  const hub = rest === undefined || (!first.includes(".") && !first.includes(":") && first !== "localhost");
  const host = hub ? "index.docker.io" : first;
  const remote = hub ? q.term : rest;
  let base = `https://${host}/v1/`;
  if (!hub) {
    // dockerd's validateEndpoint: any HTTP answer to /v1/_ping will do.
    try {
      await get(transport, `${base}_ping`, undefined, signal);
    } catch (e) {
      if (!isInsecureRegistry(host, q.insecure)) {
        throw new EngineError(
          "internal",
          `invalid registry endpoint ${base}: ${netText(e, `${base}_ping`)}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add \`--insecure-registry ${host}\` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at /etc/docker/certs.d/${host}/ca.crt`,
        );
      }
      const plain = `http://${host}/v1/`;
      try {
        await get(transport, `${plain}_ping`, undefined, signal);
      } catch (e2) {
        throw new EngineError("internal", `invalid registry endpoint "${plain}". HTTPS attempt: ${netText(e, `${base}_ping`)}. HTTP attempt: ${netText(e2, `${plain}_ping`)}`);
      }
      base = plain;
    }
  }
  const creds = parseRegistryAuth(q.auth);
  const basic = creds?.username !== undefined && creds.password !== undefined ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}` : undefined;
  const url = `${base}search?q=${encodeURIComponent(remote ?? "")}&n=${q.limit}`;
  let got: Got;
  try {
    got = await get(transport, url, basic, signal);
  } catch (e) {
    throw new EngineError("internal", netText(e, url));
  }
  if (got.status !== 200) throw new EngineError("internal", `Unexpected status code ${got.status}`);
  let parsed: { results?: Partial<SearchResult>[] };
  try {
    parsed = JSON.parse(got.body) as { results?: Partial<SearchResult>[] };
  } catch (e) {
    throw new EngineError("internal", `Error decoding search results: ${e instanceof Error ? e.message : String(e)}`);
  }
  return (parsed.results ?? [])
    .map((r) => ({ star_count: r.star_count ?? 0, is_official: r.is_official ?? false, name: r.name ?? "", is_automated: r.is_automated ?? false, description: r.description ?? "" }))
    .filter((r) => (automated === undefined || r.is_automated === automated) && (official === undefined || r.is_official === official) && r.star_count >= stars);
}
