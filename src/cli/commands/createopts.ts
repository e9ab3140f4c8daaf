/**
 * The flags `run` and `create` share, with docker 28's names and help texts
 * (runopts.ts turns their values into the create request): one table, one
 * row per flag.
 */
import type { Command } from "commander";
import { collect } from "../context.js";

/** A repeatable flag (each use adds a value). */
const REPEAT = Symbol("repeat");

/** [flags, description, REPEAT or a default value]. */
type FlagRow = readonly [string, string, (typeof REPEAT | string)?];

const CONTAINER_FLAGS: readonly FlagRow[] = [
  ["-i, --interactive", "Keep STDIN open even if not attached"],
  ["-t, --tty", "Allocate a pseudo-TTY"],
  ["--rm", "Automatically remove the container and its associated anonymous volumes when it exits"],
  ["--name <string>", "Assign a name to the container"],
  ["-e, --env <list>", "Set environment variables", REPEAT],
  ["--env-file <list>", "Read in a file of environment variables", REPEAT],
  ["-w, --workdir <string>", "Working directory inside the container"],
  ["-u, --user <string>", "Username or UID (format: <name|uid>[:<group|gid>])"],
  ["--entrypoint <string>", "Overwrite the default ENTRYPOINT of the image"],
  ["-l, --label <list>", "Set meta data on a container", REPEAT],
  ["--label-file <list>", "Read in a line delimited file of labels", REPEAT],
  ["-h, --hostname <string>", "Container host name"],
  ["--domainname <string>", "Container NIS domain name"],
  ["--add-host <list>", "Add a custom host-to-IP mapping (host:ip)", REPEAT],
  ["--sysctl <map>", "Sysctl options (name=value)", REPEAT],
  ["--cgroup-parent <string>", "Optional parent cgroup for the container"],
  ["--oom-score-adj <int>", "Tune host's OOM preferences (-1000 to 1000)"],
  ["--restart <string>", "Restart policy to apply when a container exits", "no"],
  ["--log-driver <string>", "Logging driver for the container"],
  ["--log-opt <list>", "Log driver options", REPEAT],
  ["--privileged", "Give extended privileges to this container"],
  ["--userns <mode>", "User namespace to use (host: none, when the daemon remaps)"],
  ["--pid <string>", "PID namespace to use (host, container:<name|id>)"],
  ["--ipc <string>", "IPC mode to use (none, private, shareable, host, container:<name|id>)"],
  ["--uts <string>", "UTS namespace to use (host)"],
  ["--read-only", "Mount the container's root filesystem as read only"],
  ["--cap-add <list>", "Add Linux capabilities", REPEAT],
  ["--cap-drop <list>", "Drop Linux capabilities", REPEAT],
  ["--stop-signal <string>", "Signal to stop the container"],
  ["--stop-timeout <int>", "Timeout (in seconds) to stop a container"],
  ["--runtime <string>", "Runtime to use for this container"],
  ["--init", "Run an init inside the container that forwards signals and reaps processes"],
  ["-m, --memory <bytes>", "Memory limit"],
  ["--memory-swap <bytes>", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"],
  ["--cpus <decimal>", "Number of CPUs"],
  ["-c, --cpu-shares <int>", "CPU shares (relative weight)"],
  ["--cpuset-cpus <string>", "CPUs in which to allow execution (0-3, 0,1)"],
  ["--pids-limit <int>", "Tune container pids limit (set -1 for unlimited)"],
  ["--shm-size <bytes>", "Size of /dev/shm"],
  ["-v, --volume <list>", "Bind mount a volume", REPEAT],
  ["--network <string>", "Connect a container to a network"],
  ["-p, --publish <list>", "Publish a container's port(s) to the host", REPEAT],
  ["--expose <list>", "Expose a port or a range of ports", REPEAT],
  ["--group-add <list>", "Add additional groups to join", REPEAT],
  ["--security-opt <list>", "Security Options", REPEAT],
  ["-a, --attach <list>", "Attach to STDIN, STDOUT or STDERR", REPEAT],
  ["-q, --quiet", "Suppress the pull output"],
  ["--mount <mount>", "Attach a filesystem mount to the container", REPEAT],
  ["--tmpfs <list>", "Mount a tmpfs directory", REPEAT],
  ["--dns <list>", "Set custom DNS servers", REPEAT],
  ["--dns-search <list>", "Set custom DNS search domains", REPEAT],
  ["--dns-option <list>", "Set DNS options", REPEAT],
  ["--link <list>", "Add link to another container", REPEAT],
  ["--ulimit <ulimit>", "Ulimit options", REPEAT],
  ["--device <list>", "Add a host device to the container", REPEAT],
  ["--health-cmd <string>", "Command to run to check health"],
  ["--health-interval <duration>", "Time between running the check (ms|s|m|h) (default 0s)"],
  ["--health-retries <int>", "Consecutive failures needed to report unhealthy"],
  ["--health-start-interval <duration>", "Time between running the check during the start period (ms|s|m|h) (default 0s)"],
  ["--health-start-period <duration>", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)"],
  ["--health-timeout <duration>", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"],
  ["--no-healthcheck", "Disable any container-specified HEALTHCHECK"],
  ["--pull <string>", 'Pull image before running ("always", "missing", "never")', "missing"],
  ["--platform <string>", "Set platform if server is multi-platform capable"],
  ["--ip <string>", "IPv4 address (e.g., 172.30.100.104)"],
  ["--ip6 <string>", "IPv6 address (e.g., 2001:db8::33)"],
  ["--network-alias <list>", "Add network-scoped alias for the container", REPEAT],
  ["--volumes-from <list>", "Mount volumes from the specified container(s)", REPEAT],
  ["--cidfile <string>", "Write the container ID to the file"],
  ["--cgroupns <string>", "Cgroup namespace to use (host|private)"],
  ["--memory-reservation <bytes>", "Memory soft limit"],
  ["--memory-swappiness <int>", "Tune container memory swappiness (0 to 100) (default -1)"],
  ["--oom-kill-disable", "Disable OOM Killer"],
  ["--cpu-period <int>", "Limit CPU CFS (Completely Fair Scheduler) period"],
  ["--cpu-quota <int>", "Limit CPU CFS (Completely Fair Scheduler) quota"],
  ["--cpuset-mems <string>", "MEMs in which to allow execution (0-3, 0,1)"],
  ["--blkio-weight <uint16>", "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"],
  ["-P, --publish-all", "Publish all exposed ports to random ports"],
];

/** The flags `run` and `create` share. */
export function addContainerOptions(c: Command): Command {
  for (const [flags, description, extra] of CONTAINER_FLAGS) {
    if (extra === REPEAT) c.option(flags, description, collect);
    else if (extra !== undefined) c.option(flags, description, extra);
    else c.option(flags, description);
  }
  return c.argument("<image>", "image to create the container from").argument("[command...]", "command and arguments").passThroughOptions();
}
