/**
 * Pull, push, login, search and remote inspect (dockerd's distribution code),
 * one file per job: pull.ts, push.ts, login.ts, inspect.ts; how registries are
 * reached (remote.ts) and Docker's error texts (errors.ts) are shared.
 */
import type { Logger } from "../../util/log.js";
import type { DistributionStore } from "../../image/index.js";
import type { Descriptor, Transport } from "../../registry/index.js";
import type { Events } from "../events.js";
import type { ProgressSink } from "../progress.js";
import { type SearchResult, searchImages } from "../search.js";
import { inspectRemote } from "./inspect.js";
import { type LoginRequest, login } from "./login.js";
import { Puller, type PullRequest } from "./pull.js";
import { Pusher, type PushRequest } from "./push.js";
import { Remote, type RemoteOptions } from "./remote.js";

export { describeNetError, goNameserver } from "./errors.js";
export { registryHostOf } from "./login.js";
export type { PullRequest, PushRequest, LoginRequest };

export interface DistributionOptions extends RemoteOptions {
  store: DistributionStore;
  events: Events;
  log: Logger;
  /** Layers transferred at once per pull / push (read at each pull or push: a reload changes them). */
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
}

/** The options object is kept, not copied: a daemon reload that changes it takes effect at the next operation. */
export class DistributionService {
  private readonly remote: Remote;
  private readonly puller: Puller;
  private readonly pusher: Pusher;

  constructor(o: DistributionOptions) {
    this.remote = new Remote(o);
    this.puller = new Puller(o, this.remote);
    this.pusher = new Pusher(o, this.remote);
  }

  /** GET /images/search (src/engine/search.ts). */
  search(q: { term: string; limit: number; filters: Record<string, string[]>; auth?: string }, signal?: AbortSignal): Promise<SearchResult[]> {
    return searchImages({ ...q, insecure: this.remote.insecure, transport: this.remote.transport() }, signal);
  }

  /** Connections of one operation: proxies, certs.d (read afresh, so changes need no restart). */
  transport(): Transport {
    return this.remote.transport();
  }

  /** GET /distribution/{name}/json. */
  inspectRemote(name: string, auth: string | undefined, signal?: AbortSignal): Promise<{ Descriptor: Descriptor; Platforms: Record<string, unknown>[] }> {
    return inspectRemote(this.remote, name, auth, signal);
  }

  pull(req: PullRequest, out: ProgressSink): Promise<void> {
    return this.puller.pull(req, out);
  }

  push(req: PushRequest, out: ProgressSink): Promise<void> {
    return this.pusher.push(req, out);
  }

  /** POST /auth: check the credentials against the registry's /v2/. */
  login(body: LoginRequest): Promise<{ Status: string; IdentityToken: string }> {
    return login(this.remote, body);
  }
}
