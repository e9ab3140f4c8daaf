/**
 * A long-lived `ip -o -force -batch -` in the host's network namespace, so
 * host-side link work (a veth onto its bridge, deletions, namespace removal)
 * costs no process spawn. iproute2 flushes each command's output in batch mode;
 * a request is its lines followed by `link show dev lo` (whose line marks the
 * end of stdout) and a command that always fails (whose "Command failed -:<n>"
 * marks the end of stderr: the two pipes are not ordered against each other).
 * Failures are reported by ip on stderr as "Command failed -:<line>", which
 * tells which request they belong to.
 * Requests are serialized; a dead or stuck server is replaced (util/helperproc.ts).
 */
import { EngineError } from "../util/errors.js";
import { HelperProcess } from "../util/helperproc.js";

const MARKER = "link show dev lo";
const MARKER_RE = /^\d+:\s+lo[:@]/m;
const ERR_MARKER = "link show dev berth-end-of-batch0";
const TIMEOUT_MS = 10_000;

/** The lines of the request in flight, as ip numbers its batch input. */
interface Span {
  first: number;
  last: number;
  /** The line of the always-failing command that ends this request's stderr. */
  errMarker: number;
}

export class IpServer {
  private line = 0;
  private out = "";
  private err = "";
  private span: Span | undefined;
  private readonly helper: HelperProcess;

  constructor(bin = "ip") {
    this.helper = new HelperProcess({
      name: "ip -batch",
      command: bin,
      args: ["-o", "-force", "-batch", "-"],
      timeoutMs: TIMEOUT_MS,
      onStart: () => {
        this.line = 0;
        this.out = "";
        this.err = "";
      },
      onStdout: (text) => {
        this.out += text;
        this.check();
      },
      onStderr: (text) => {
        this.err += text;
        this.check();
      },
      exitDetail: () => this.err.trim(),
    });
  }

  /** Run these lines; rejects with ip's messages when one of them failed. */
  batch(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.helper.request(() => {
      const first = this.line + 1;
      this.line += lines.length + 2;
      this.out = "";
      this.err = "";
      this.span = { first, last: first + lines.length - 1, errMarker: first + lines.length + 1 };
      return `${lines.join("\n")}\n${MARKER}\n${ERR_MARKER}\n`;
    });
  }

  /** Both ends seen (stdout's marker line, stderr's failure of the marker command): the request is answered. */
  private check(): void {
    const p = this.span;
    if (!p || !MARKER_RE.test(this.out) || !this.err.includes(`Command failed -:${p.errMarker}\n`)) return;
    this.span = undefined;
    const failed = [...this.err.matchAll(/Command failed -:(\d+)/g)].map((m) => Number(m[1])).filter((n) => n >= p.first && n <= p.last);
    if (failed.length === 0) return this.helper.finish();
    const msg = this.err
      .split("\n")
      .filter((l) => l.trim() !== "" && !/^Command failed/.test(l) && !l.includes("berth-end-of-batch0"))
      .join("; ");
    this.helper.finish(new EngineError("internal", `ip: ${msg || `line ${failed[0]} failed`}`));
  }

  close(): void {
    this.helper.close();
  }
}

let shared: IpServer | undefined;

/** The process-wide server. */
export function ipServer(): IpServer {
  shared ??= new IpServer();
  return shared;
}
