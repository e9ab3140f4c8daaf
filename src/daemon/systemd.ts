/**
 * systemd integration: socket activation (`-H fd://`, LISTEN_PID/LISTEN_FDS/
 * LISTEN_FDNAMES, sd_listen_fds(3)) and readiness notification (sd_notify(3):
 * READY=1, RELOADING=1, STOPPING=1 to $NOTIFY_SOCKET).
 *
 * Node cannot send on an AF_UNIX datagram socket, so notifications go through
 * Debian's `systemd-notify --pid=<berthd> --no-block`: it is part of systemd,
 * so it is there whenever NOTIFY_SOCKET is (a service started by systemd), and as
 * root its --pid sends the message with berthd's credentials, which a unit's
 * default NotifyAccess=main requires. --no-block: no BARRIER round trip. A few
 * messages per daemon lifetime make a process each affordable.
 *
 * Both sets of variables are taken out of the environment at start-up, as
 * sd_listen_fds(1)/sd_notify(1) do: runc given a NOTIFY_SOCKET would wait for
 * the container to report readiness itself.
 */
import { execFile } from "node:child_process";

export interface ActivatedFd {
  fd: number;
  name: string;
}

export interface SystemdEnv {
  fds: ActivatedFd[];
  notifySocket?: string;
}

/** Reads and removes LISTEN_* and NOTIFY_SOCKET; fds count only when LISTEN_PID is this process. */
export function takeSystemdEnv(env: NodeJS.ProcessEnv = process.env, pid = process.pid): SystemdEnv {
  const out: SystemdEnv = { fds: [] };
  const n = Number(env["LISTEN_FDS"] ?? "0");
  if (env["LISTEN_PID"] === String(pid) && Number.isInteger(n) && n > 0) {
    const names = (env["LISTEN_FDNAMES"] ?? "").split(":");
    for (let i = 0; i < n; i++) out.fds.push({ fd: 3 + i, name: names[i] || "unknown" });
  }
  if (env["NOTIFY_SOCKET"]) out.notifySocket = env["NOTIFY_SOCKET"];
  for (const k of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"]) delete env[k];
  return out;
}

/**
 * The fds `-H fd://ADDR` names: all of them (empty ADDR or "*"), one by number
 * (dockerd's `fd://3`), or every fd whose FileDescriptorName= is ADDR.
 * Errors in dockerd's words where dockerd has them.
 */
export function selectFds(all: ActivatedFd[], addr: string): ActivatedFd[] {
  if (all.length === 0) throw new Error("no sockets found via socket activation: make sure the service was started by systemd");
  if (addr === "" || addr === "*") return all;
  if (/^\d+$/.test(addr)) {
    const fd = all.find((f) => f.fd === Number(addr));
    if (!fd) throw new Error("too few socket activated files passed in by systemd");
    return [fd];
  }
  const named = all.filter((f) => f.name === addr);
  if (named.length === 0) throw new Error(`no socket activated file named ${addr} (LISTEN_FDNAMES has ${all.map((f) => f.name).join(", ")})`);
  return named;
}

/** Fds passed by systemd that no -H fd:// took (berthd warns about them). */
export function unusedFds(all: ActivatedFd[], used: Set<number>): ActivatedFd[] {
  return all.filter((f) => !used.has(f.fd));
}

/** Sends one sd_notify message (lines like "READY=1"); a no-op without NOTIFY_SOCKET. */
export function sdNotify(notifySocket: string | undefined, lines: string[]): Promise<void> {
  if (!notifySocket) return Promise.resolve();
  return new Promise((resolve, reject) => {
    execFile("systemd-notify", [`--pid=${process.pid}`, "--no-block", ...lines], { env: { ...process.env, NOTIFY_SOCKET: notifySocket }, timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`systemd-notify ${lines.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}
