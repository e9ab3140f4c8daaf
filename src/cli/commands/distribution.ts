/** push, login, logout, save, load. */
import type { Command } from "commander";
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DEFAULT_INDEX_SERVER, configPath, convertToHostname, helperFor, readConfig, registryAuthHeader, removeAuth, storeAuth, writeConfig } from "../auth.js";
import { jsonLines, readBody } from "../client.js";
import { outputFile, writeOutput } from "../output.js";
import { StatusError, errln, getClient, outln } from "../context.js";
import { referenceError, splitRepoTag } from "../format.js";
import { type JSONMessage, displayJsonStream } from "../progress.js";
import { imagePath } from "./images.js";

// --- push ---------------------------------------------------------------------------------------

export function registerPush(parent: Command): void {
  parent
    .command("push")
    .description("Upload an image to a registry")
    .usage("[OPTIONS] NAME[:TAG]")
    .option("-a, --all-tags", "Push all tags of an image to the repository")
    .option("-q, --quiet", "Suppress verbose output")
    .option("--platform <string>", "Push a platform-specific manifest as a single-platform image to the registry")
    .argument("<name>")
    .action(async (name: string, flags: { allTags?: boolean; quiet?: boolean; platform?: string }) => {
      const err = referenceError(name);
      if (err) throw new Error(err);
      if (name.includes("@")) throw new Error("invalid reference format: push by digest is not supported");
      const { repo } = splitRepoTag(name);
      let { tag } = splitRepoTag(name);
      if (flags.allTags && tag) throw new Error("tag can't be used with --all-tags/-a");
      if (!flags.allTags && !tag) {
        tag = "latest";
        if (!flags.quiet) outln("Using default tag: latest");
      }
      const client = getClient();
      const stream = await client.jsonStream<JSONMessage>("POST", `/images/${imagePath(repo)}/push`, {
        query: { tag: tag || undefined, platform: flags.platform },
        headers: { "X-Registry-Auth": registryAuthHeader(repo) },
      });
      const o = process.stdout;
      const sink = flags.quiet ? { write: () => true, isTTY: false } : { write: (s: string) => o.write(s), isTTY: o.isTTY === true, ...(o.columns ? { columns: o.columns } : {}) };
      await displayJsonStream(stream, sink);
      if (flags.quiet) outln(tag ? `${repo}:${tag}` : repo);
    });
}

// --- login / logout ---------------------------------------------------------------------------

async function readAllStdin(): Promise<string> {
  return (await readBody(process.stdin)).toString("utf8");
}

/** Read one line from the terminal; `mute` hides the typing (password). */
async function prompt(question: string, mute: boolean): Promise<string> {
  process.stdout.write(question);
  const stdin = process.stdin;
  const raw = mute && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = "";
      const done = (v: string) => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        stdin.pause();
        resolve(v);
      };
      const onData = (d: Buffer) => {
        for (const ch of d.toString("utf8")) {
          if (ch === "\u0003") {
            stdin.off("data", onData);
            reject(new StatusError(130));
            return;
          }
          if (ch === "\r" || ch === "\n") {
            if (raw) process.stdout.write("\n");
            done(buf);
            return;
          }
          if (ch === "\u007f" || ch === "\b") buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      const onEnd = () => done(buf);
      stdin.on("data", onData);
      stdin.on("end", onEnd);
      stdin.resume();
    });
  } finally {
    if (raw) stdin.setRawMode(false);
  }
}

/** docker's normalisation of a login server argument. */
export function loginServer(arg: string | undefined): string {
  if (!arg) return DEFAULT_INDEX_SERVER;
  const host = convertToHostname(arg);
  if (host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io") return DEFAULT_INDEX_SERVER;
  return host;
}

export function registerLogin(program: Command): void {
  program
    .command("login")
    .description("Authenticate to a registry")
    .usage("[OPTIONS] [SERVER]")
    .option("-u, --username <string>", "Username")
    .option("-p, --password <string>", "Password or Personal Access Token (PAT)")
    .option("--password-stdin", "Take the Password or Personal Access Token (PAT) from stdin")
    .argument("[server]")
    .action(async (serverArg: string | undefined, flags: { username?: string; password?: string; passwordStdin?: boolean }) => {
      let { username, password } = flags;
      if (password !== undefined) {
        errln("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if (flags.passwordStdin) throw new Error("--password and --password-stdin are mutually exclusive");
      }
      if (flags.passwordStdin) {
        if (!username) throw new Error("Must provide --username with --password-stdin");
        password = (await readAllStdin()).replace(/\r?\n$/, "");
      }
      // An empty password (or user) means "ask", as docker does.
      if (password === "") password = undefined;
      if (username === "") username = undefined;
      const server = loginServer(serverArg);
      if (username === undefined || password === undefined) {
        if (!process.stdin.isTTY) throw new Error("Error: Cannot perform an interactive login from a non TTY device");
        if (username === undefined) {
          username = (await prompt("Username: ", false)).trim();
          if (username === "") throw new Error("Error: Non-null Username Required");
        }
        if (password === undefined) {
          password = await prompt("Password: ", true);
          if (password === "") throw new Error("Error: Password Required");
        }
      }
      const r = await getClient().post<{ Status?: string; IdentityToken?: string }>("/auth", undefined, { username, password, serveraddress: server });
      const file = configPath();
      const cfg = readConfig(file);
      const token = r?.IdentityToken || undefined;
      writeConfig(storeAuth(cfg, { serveraddress: server, username, password: token ? undefined : password, identitytoken: token }), file);
      if (!helperFor(cfg, server)) errln(`WARNING! Your credentials are stored unencrypted in '${file}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n`);
      outln("Login Succeeded");
    });

  program
    .command("logout")
    .description("Log out from a registry")
    .usage("[SERVER]")
    .argument("[server]")
    .action((serverArg: string | undefined) => {
      const server = loginServer(serverArg);
      const file = configPath();
      const { cfg, removed } = removeAuth(readConfig(file), server);
      // docker 28 says this whether or not there were credentials to remove.
      outln(`Removing login credentials for ${server}`);
      if (removed) writeConfig(cfg, file);
    });
}

// --- save / load --------------------------------------------------------------------------------

export function registerSave(parent: Command): void {
  parent
    .command("save")
    .description("Save one or more images to a tar archive (streamed to STDOUT by default)")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .option("-o, --output <string>", "Write to a file, instead of STDOUT")
    .option("--platform <string>", "Save only the given platform variant")
    .argument("<image...>")
    .action(async (images: string[], flags: { output?: string; platform?: string }) => {
      const file = outputFile(flags.output, "failed to save image", true);
      const res = await getClient().request("GET", "/images/get", { query: { names: images, platform: flags.platform } });
      await writeOutput(res, file);
    });
}

export function registerLoad(parent: Command): void {
  parent
    .command("load")
    .description("Load an image from a tar archive or STDIN")
    .usage("[OPTIONS]")
    .option("-i, --input <string>", "Read from tar archive file, instead of STDIN")
    .option("-q, --quiet", "Suppress the load output")
    .option("--platform <string>", "Load only the given platform variant")
    .action(async (flags: { input?: string; quiet?: boolean; platform?: string }) => {
      let body: Readable;
      if (flags.input !== undefined && flags.input !== "") {
        const file = flags.input;
        const s = createReadStream(file);
        await new Promise<void>((resolve, reject) => {
          s.once("open", () => resolve());
          s.once("error", (e: NodeJS.ErrnoException) => reject(new Error(`open ${file}: ${e.code === "ENOENT" ? "no such file or directory" : e.message}`)));
        });
        body = s;
      } else {
        if (process.stdin.isTTY) throw new Error("requested load from stdin, but stdin is empty");
        body = process.stdin;
      }
      const client = getClient();
      const res = await client.request("POST", "/images/load", {
        // Always explicit, as the docker CLI: the daemon's default is quiet.
        query: { quiet: flags.quiet ? "1" : "0", platform: flags.platform },
        body,
        contentType: "application/x-tar",
      });
      const ct = String(res.headers["content-type"] ?? "");
      if (!ct.includes("json")) {
        await pipeline(res, process.stdout, { end: false });
        return;
      }
      const o = process.stdout;
      await displayJsonStream(jsonLines<JSONMessage>(res), { write: (s: string) => o.write(s), isTTY: o.isTTY === true, ...(o.columns ? { columns: o.columns } : {}) });
    });
}

export function registerDistributionCommands(program: Command, imageGroup: Command | undefined): void {
  registerLogin(program);
  for (const p of imageGroup ? [program, imageGroup] : [program]) {
    registerPush(p);
    registerSave(p);
    registerLoad(p);
  }
}
