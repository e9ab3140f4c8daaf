/**
 * Raw Engine API calls over a daemon's unix socket, for tests that must issue
 * requests back to back (a docker CLI run adds ~20 ms and hides races).
 */
import http from "node:http";

export interface ApiAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function api(sock: string, method: string, p: string, body?: unknown): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const headers = data ? { "Content-Type": "application/json", "Content-Length": String(data.length) } : {};
    const req = http.request({ socketPath: sock, method, path: p, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`timeout ${method} ${p}`)));
    req.on("error", reject);
    req.end(data);
  });
}

/** The JSON body of an answer, or a failure naming the request. */
export function json<T = Record<string, unknown>>(a: ApiAnswer): T {
  try {
    return JSON.parse(a.body) as T;
  } catch {
    throw new Error(`not JSON (${a.status}): ${a.body}`);
  }
}
