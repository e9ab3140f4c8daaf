/** POST /auth (docker login): credentials checked against the registry's /v2/, as dockerd does. */
import { EngineError } from "../../util/errors.js";
import { RegistryHttpError } from "../../registry/index.js";
import { describeNetError } from "./errors.js";
import { PING_TIMEOUT_MS, type Remote } from "./remote.js";

export interface LoginRequest {
  username?: string;
  password?: string;
  serveraddress?: string;
  identitytoken?: string;
}

export async function login(remote: Remote, body: LoginRequest): Promise<{ Status: string; IdentityToken: string }> {
  const host = registryHostOf(body.serveraddress ?? "");
  const auth = Buffer.from(JSON.stringify({ username: body.username ?? "", password: body.password ?? "", ...(body.identitytoken ? { identitytoken: body.identitytoken } : {}) })).toString("base64");
  await remote.reach(host, auth);
  const client = remote.client(host, auth, undefined, PING_TIMEOUT_MS);
  try {
    await client.ping();
  } catch (e) {
    if (e instanceof RegistryHttpError && (e.status === 401 || e.status === 403)) {
      // The endpoint that answered: https:// when an insecure (e.g. loopback) registry speaks TLS, as dockerd says.
      throw new EngineError("unauthorized", `login attempt to ${client.pingUrl} failed with status: ${e.status} ${e.status === 401 ? "Unauthorized" : "Forbidden"}`);
    }
    const net = describeNetError(e, "GET", remote.pingUrl(host));
    throw net ? new EngineError("internal", net) : e;
  }
  return { Status: "Login Succeeded", IdentityToken: "" };
}

/** "https://index.docker.io/v1/", "http://127.0.0.1:5000", "127.0.0.1:5000" → registry host. */
export function registryHostOf(serveraddress: string): string {
  let s = serveraddress.trim();
  if (s === "") return "docker.io";
  s = s.replace(/^[a-z]+:\/\//i, "");
  s = s.split("/")[0] ?? s;
  if (s === "index.docker.io" || s === "registry-1.docker.io" || s === "docker.io") return "docker.io";
  return s;
}
