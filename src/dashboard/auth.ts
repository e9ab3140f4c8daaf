/**
 * Who may use the dashboard, decided before anything reaches the Engine API:
 * - on loopback, the Host header must name the dashboard's own address (a DNS-rebinding page names its
 *   own host; on a TLS address the certificate's name check does this);
 * - every API request and the WebSocket carry the session token (Authorization: Bearer, or for a
 *   WebSocket, whose browser API cannot set headers, the subprotocol `berth-token.<token>`);
 * - a state-changing request (anything but GET/HEAD) and every WebSocket handshake must come with an
 *   Origin equal to the dashboard's own: a page elsewhere cannot forge it;
 * - read-only mode refuses every non-GET API request and the exec terminal.
 * Hand-written: a few comparisons, no library covers this combination.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { promises as fs } from "node:fs";
import type http from "node:http";
import { atomicWriteFile } from "../util/fsutil.js";
import { errnoCode } from "../util/errors.js";

export interface Refusal {
  status: number;
  message: string;
}

export interface Gate {
  token: string;
  readOnly: boolean;
  /**
   * host:port spellings the dashboard answers to (127.0.0.1:PORT, localhost:PORT, [::1]:PORT). Undefined
   * on a TLS address: any name, the certificate binds it (a rebinding page's name fails the TLS check).
   */
  hosts: Set<string> | undefined;
  /** "http" or "https". */
  scheme: string;
}

/** The token in `file` (0600), made when the file does not exist yet; no file: a fresh one per start. */
export async function loadToken(file: string | undefined): Promise<string> {
  if (file) {
    try {
      const t = (await fs.readFile(file, "utf8")).trim();
      if (/^[A-Za-z0-9_-]{32,}$/.test(t)) return t;
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
  }
  const token = randomBytes(32).toString("base64url");
  if (file) await atomicWriteFile(file, token + "\n", 0o600);
  return token;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token a request carries: the bearer header, or the WebSocket subprotocol. */
export function tokenOf(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  const protos = req.headers["sec-websocket-protocol"];
  if (protos) {
    for (const p of protos.split(",").map((s) => s.trim())) if (p.startsWith("berth-token.")) return p.slice(12);
  }
  return undefined;
}

/** The checks every request goes through; static files need only the Host check (they hold no data). */
export function check(gate: Gate, req: http.IncomingMessage, kind: "static" | "api" | "websocket", wantsWrite: boolean): Refusal | undefined {
  const host = (req.headers.host ?? "").toLowerCase();
  if (gate.hosts && !gate.hosts.has(host)) return { status: 421, message: `dashboard: unexpected Host header "${host}"` };
  if (kind === "static") return undefined;
  const method = req.method ?? "GET";
  const origin = req.headers.origin;
  const own = `${gate.scheme}://${host}`;
  if (origin !== undefined && origin !== own) return { status: 403, message: `dashboard: cross-origin request refused (Origin ${origin})` };
  if ((kind === "websocket" || (method !== "GET" && method !== "HEAD")) && origin === undefined) {
    return { status: 403, message: "dashboard: a state-changing request must carry the dashboard's Origin" };
  }
  const given = tokenOf(req);
  if (given === undefined || !sameToken(given, gate.token)) return { status: 401, message: "dashboard: missing or wrong token (open the URL berthd logged, with its #token=…)" };
  if (gate.readOnly && wantsWrite) return { status: 403, message: "dashboard: read-only mode" };
  return undefined;
}
