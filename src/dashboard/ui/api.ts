/**
 * The browser side of the dashboard's API: the session token (taken from the URL's #token=… once,
 * then kept in sessionStorage: a fragment never reaches a server), JSON requests to the proxied
 * Engine API (/api/…), raw streams (logs) and WebSockets (feed, exec) that carry the token.
 */
const KEY = "berth-dashboard-token";

let token = "";

/** Read the token from the fragment (then drop it from the address bar) or from this tab's storage. */
export function initToken(): string {
  const m = location.hash.match(/(?:^#|&)token=([A-Za-z0-9_-]+)/);
  if (m?.[1]) {
    token = m[1];
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", location.pathname + "#/containers");
  } else token = sessionStorage.getItem(KEY) ?? "";
  return token;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  let msg = text;
  try {
    msg = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // plain text
  }
  return new ApiError(res.status, msg || `HTTP ${res.status}`);
}

export async function api<T>(method: string, path: string): Promise<T> {
  const res = await fetch(`/api${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

/** A streamed response's body, chunk by chunk, until it ends or `signal` aborts. */
export async function stream(path: string, onChunk: (b: Uint8Array) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`/api${path}`, { headers: { Authorization: `Bearer ${token}` }, signal });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}

export function socket(path: string): WebSocket {
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
  const ws = new WebSocket(url, ["berth", `berth-token.${token}`]);
  ws.binaryType = "arraybuffer";
  return ws;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(2) : n < 100 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export function ago(seconds: number): string {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} days ago`;
}
