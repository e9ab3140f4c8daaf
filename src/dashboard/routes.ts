/**
 * The Engine API routes the dashboard's UI uses, and only those: the proxy forwards nothing else
 * (no create, no exec with a command of the page's choosing, no build, no volume or network changes).
 */
export interface Route {
  method: string;
  pattern: RegExp;
  /** Changes state: refused in read-only mode, needs the Origin check. */
  write: boolean;
}

const ID = "[A-Za-z0-9][A-Za-z0-9_.-]*";
// An image reference: registry host, path, tag or digest (URL-encoded by the UI).
const REF = "[A-Za-z0-9][A-Za-z0-9_.:/@%-]*";

export const ROUTES: Route[] = [
  { method: "GET", pattern: /^\/_ping$/, write: false },
  { method: "GET", pattern: /^\/(version|info)$/, write: false },
  { method: "GET", pattern: /^\/system\/df$/, write: false },
  { method: "GET", pattern: /^\/containers\/json$/, write: false },
  { method: "GET", pattern: new RegExp(`^/containers/${ID}/(json|top|logs)$`), write: false },
  { method: "POST", pattern: new RegExp(`^/containers/${ID}/(start|stop|restart|pause|unpause)$`), write: true },
  { method: "DELETE", pattern: new RegExp(`^/containers/${ID}$`), write: true },
  { method: "GET", pattern: /^\/images\/json$/, write: false },
  { method: "GET", pattern: new RegExp(`^/images/${REF}/(json|history)$`), write: false },
  { method: "DELETE", pattern: new RegExp(`^/images/${REF}$`), write: true },
  { method: "POST", pattern: /^\/images\/prune$/, write: true },
  { method: "GET", pattern: /^\/networks$/, write: false },
  { method: "GET", pattern: new RegExp(`^/networks/${ID}$`), write: false },
  { method: "GET", pattern: /^\/volumes$/, write: false },
  { method: "GET", pattern: new RegExp(`^/volumes/${ID}$`), write: false },
];

/** The route a method and path (without query) match, if any. */
export function routeOf(method: string, path: string): Route | undefined {
  if (path.includes("..")) return undefined;
  return ROUTES.find((r) => r.method === method && r.pattern.test(path));
}
