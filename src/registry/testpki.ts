/**
 * For tests: a throw-away CA and certificates signed by it, made with Debian's
 * openssl (EC P-256, valid one day): a server certificate for the given DNS
 * names and a client certificate.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface TestPki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function signed(dir: string, name: string, subject: string, ext: string, ca: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const extFile = path.join(dir, `${name}.ext`);
  await fs.writeFile(extFile, `${ext}\n`);
  await exec("openssl", ["req", ...EC, "-keyout", key, "-out", csr, "-subj", subject]);
  await exec("openssl", ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-days", "1", "-out", cert, "-extfile", extFile]);
  return { cert, key };
}

/** A CA, a server certificate for `dnsNames`, and a client certificate, under `dir`. */
export async function makeTestPki(dir: string, dnsNames: string[]): Promise<TestPki> {
  await fs.mkdir(dir, { recursive: true });
  const ca = { cert: path.join(dir, "ca.pem"), key: path.join(dir, "ca.key") };
  await exec("openssl", ["req", "-x509", ...EC, "-days", "1", "-subj", "/CN=berth test CA", "-keyout", ca.key, "-out", ca.cert]);
  const server = await signed(dir, "server", `/CN=${dnsNames[0] ?? "localhost"}`, `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(",")}\nextendedKeyUsage=serverAuth`, ca);
  const client = await signed(dir, "client", "/CN=berth test client", "extendedKeyUsage=clientAuth", ca);
  return { caCert: ca.cert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}
