/**
 * What every command needs: the API client (created lazily from the global
 * connection flags: -H, --context, --tls*, --config), output helpers and the
 * errors that carry an exit status.
 */
import { ConfigError, type ConnectOptions } from "../client/index.js";
import { Client } from "./client.js";

/** An error that ends the CLI with a given exit status; the message (if any) goes to stderr. */
export class StatusError extends Error {
  constructor(
    readonly status: number,
    message = "",
  ) {
    super(message);
    this.name = "StatusError";
  }
}

/**
 * A flag value that does not parse (pflag's Set failed): docker prints it with the
 * command's usage and exits 125.
 */
export class FlagValueError extends Error {
  constructor(value: string, flag: string, reason: string) {
    super(`invalid argument "${value}" for "${flag}" flag: ${reason}`);
    this.name = "FlagValueError";
  }
}

/** Several errors (one per argument), printed one per line, exit 1. */
export class MultiError extends Error {
  constructor(readonly errors: Error[]) {
    super(errors.map((e) => e.message).join("\n"));
    this.name = "MultiError";
  }
}

export function out(s: string): void {
  process.stdout.write(s);
}

export function outln(s = ""): void {
  process.stdout.write(`${s}\n`);
}

export function errln(s = ""): void {
  process.stderr.write(`${s}\n`);
}

let connect: ConnectOptions = {};
let client: Client | undefined;

/** The global flags that say where to connect (set before each command runs). */
export function setConnectOptions(opts: ConnectOptions): void {
  connect = opts;
  client = undefined;
}

export function connectOptions(): ConnectOptions {
  return connect;
}

export function getClient(): Client {
  const version = process.env["DOCKER_API_VERSION"];
  try {
    client ??= new Client({ ...connect, ...(version ? { version } : {}) });
  } catch (e) {
    if (e instanceof ConfigError && !/^conflicting options/.test(e.message)) throw new StatusError(1, `Failed to initialize: ${e.message}`);
    throw e;
  }
  return client;
}

/**
 * Run `fn` for each argument in order, printing the argument on success and
 * collecting failures (docker's stop/kill/rm/restart behaviour).
 */
export async function forEachArg(args: string[], fn: (arg: string) => Promise<void>, printName = true): Promise<void> {
  const errors: Error[] = [];
  for (const a of args) {
    try {
      await fn(a);
      if (printName) outln(a);
    } catch (e) {
      errors.push(e instanceof Error ? e : new Error(String(e)));
    }
  }
  if (errors.length > 0) throw new MultiError(errors);
}

/** Commander's collector for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The collector of a `--filter` flag: docker (opts.FilterOpt) rejects a value without "=" while parsing. */
export function filterCollector(flag: string): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => {
    if (!value.includes("=")) throw new FlagValueError(value, flag, "bad format of filter (expected name=value)");
    return [...(previous ?? []), value];
  };
}

/** `--filter key=value` → docker's filters JSON (`{"key":{"value":true}}`). */
export function filtersJson(filters: string[] | undefined): string | undefined {
  if (!filters || filters.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of filters) {
    const i = f.indexOf("=");
    if (i <= 0) throw new Error(`bad format of filter (expected name=value)`);
    const k = f.slice(0, i).trim().toLowerCase();
    const v = f.slice(i + 1).trim();
    (out[k] ??= {})[v] = true;
  }
  return JSON.stringify(out);
}

export function parseIntStrict(v: string, what: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new FlagValueError(v, what, `strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

/** Ask a yes/no question on the terminal (prune without -f). */
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  const answer = await new Promise<string>((resolve) => {
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        cleanup();
        resolve(buf.slice(0, nl));
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(buf);
    };
    const cleanup = () => {
      process.stdin.off("data", onData);
      process.stdin.off("end", onEnd);
      process.stdin.pause();
    };
    process.stdin.on("data", onData);
    process.stdin.on("end", onEnd);
    process.stdin.resume();
  });
  const a = answer.trim().toLowerCase();
  return a === "y" || a === "yes";
}
