import { invalid } from "../util/errors.js";
import { isDigest } from "../util/digest.js";

/**
 * An image reference in Docker's familiar form: `busybox`, `busybox:1.36`,
 * `localhost:5000/team/app:v1`, `app@sha256:...`. Names are stored familiar
 * (`docker.io/library/x` → `x`, `docker.io/u/x` → `u/x`), as `docker images` shows them.
 */
export interface Reference {
  /** Repository in familiar form, e.g. "busybox" or "localhost:5000/app". */
  repo: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;

export function parseReference(input: string): Reference {
  // distribution/reference's messages, as dockerd answers them.
  const bad = () => invalid(input === "" ? "invalid reference format: repository name must have at least one component" : "invalid reference format");
  if (input.length === 0 || input.length > 255 * 4) throw bad();
  // ParseNormalizedNamed's checks before the grammar: a bare 64-hex id, then an upper-case repository path.
  if (/^[a-f0-9]{64}$/.test(input)) throw invalid(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  const slash = input.indexOf("/");
  const head = slash < 0 ? "" : input.slice(0, slash);
  const remainder = slash >= 0 && (/[.:]/.test(head) || head === "localhost" || head.toLowerCase() !== head) ? input.slice(slash + 1) : input;
  const remote = remainder.includes(":") ? remainder.slice(0, remainder.indexOf(":")) : remainder;
  if (remote.toLowerCase() !== remote) throw invalid("invalid reference format: repository name must be lowercase");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw bad();
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad();
  }
  const parts = rest.split("/");
  let domain: string | undefined;
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first))) {
    domain = first;
    parts.shift();
    if (!DOMAIN.test(domain)) throw bad();
  }
  if (parts.length === 0) throw bad();
  for (const p of parts) {
    if (COMPONENT.test(p)) continue;
    if (COMPONENT.test(p.toLowerCase())) throw invalid("invalid reference format: repository name must be lowercase");
    throw bad();
  }
  if (domain === "docker.io" || domain === "index.docker.io") {
    domain = undefined;
    if (parts.length === 2 && parts[0] === "library") parts.shift();
  }
  const repo = (domain ? `${domain}/` : "") + parts.join("/");
  const ref: Reference = { repo };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `repo:tag`, defaulting the tag to latest when neither tag nor digest is given. */
export function withDefaultTag(ref: Reference): Reference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: "latest" };
  return ref;
}

export function formatReference(ref: Reference): string {
  return ref.repo + (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

/**
 * How dockerd names an image it cannot find ("No such image: X"): a full id as
 * `sha256:<hex>`, a reference with its default tag (`busybox` → `busybox:latest`,
 * also for a short id, which dockerd parses as a name); a malformed one is refused (400).
 */
export function missingImageName(input: string): string {
  const hex = input.replace(/^sha256:/, "");
  if (/^[a-f0-9]{64}$/.test(hex)) return `sha256:${hex}`;
  return formatReference(withDefaultTag(parseReference(input)));
}

/** The registry host and the repository path on it, for pull/push. */
export function registryOf(ref: Reference): { host: string; path: string } {
  const parts = ref.repo.split("/");
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    return { host: first, path: parts.slice(1).join("/") };
  }
  return { host: "docker.io", path: parts.length === 1 ? `library/${ref.repo}` : ref.repo };
}
