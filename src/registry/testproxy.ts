/**
 * For tests: a small forward proxy on 127.0.0.1 that records what passes
 * through it (CONNECT tunnels and absolute-URI requests, with the
 * Proxy-Authorization they carried). It reaches loopback only: names ending
 * in ".test" go to 127.0.0.1 on the same port, everything else is answered
 * 502 without any outside connection. Hand-written: a test fixture.
 */
import http from "node:http";
import net from "node:net";

export interface ProxiedRequest {
  method: string;
  /** "host:port" of a CONNECT, or the absolute URL of a forwarded request. */
  target: string;
  /** What the client sent as Proxy-Authorization. */
  auth?: string;
}

export interface TestProxy {
  url: string;
  port: number;
  seen: ProxiedRequest[];
  close(): Promise<void>;
}

function route(host: string): string | undefined {
  const h = host.toLowerCase();
  return h.endsWith(".test") ? "127.0.0.1" : undefined;
}

/** Start the proxy; with `auth` ("user:password") a request without that Basic Proxy-Authorization gets 407. */
export async function startTestProxy(opts: { auth?: string } = {}): Promise<TestProxy> {
  const seen: ProxiedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const want = opts.auth !== undefined ? `Basic ${Buffer.from(opts.auth).toString("base64")}` : undefined;
  const record = (method: string, target: string, auth: string | undefined): boolean => {
    seen.push({ method, target, ...(auth !== undefined ? { auth } : {}) });
    return want === undefined || auth === want;
  };
  const server = http.createServer((req, res) => {
    const auth = req.headers["proxy-authorization"];
    if (!record(req.method ?? "", req.url ?? "", auth)) {
      res.writeHead(407, { "Proxy-Authenticate": 'Basic realm="test"' }).end();
      return;
    }
    let u: URL;
    try {
      u = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end("absolute URI expected");
      return;
    }
    const to = route(u.hostname);
    if (u.protocol !== "http:" || to === undefined) {
      res.writeHead(502).end("test proxy: loopback .test names only");
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    const up = http.request({ host: to, port: Number(u.port || 80), path: `${u.pathname}${u.search}`, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on("error", () => undefined);
    const target = req.url ?? "";
    if (!record("CONNECT", target, req.headers["proxy-authorization"])) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const i = target.lastIndexOf(":");
    const to = route(target.slice(0, i).replace(/^\[|\]$/g, ""));
    if (to === undefined) {
      client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n");
      return;
    }
    const up = net.connect({ host: to, port: Number(target.slice(i + 1)) }, () => {
      client.write("HTTP/1.1 200 Connection established\r\n\r\n");
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on("error", () => client.destroy());
    up.on("close", () => sockets.delete(up));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
