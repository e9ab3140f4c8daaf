/**
 * The seams between the containers backend and the networking and storage
 * backends. ContainerService calls these at create, start, stop and remove;
 * engine/networks/attach.ts and engine/volumes/attach.ts implement them.
 */
import type { OciMount } from "../runtime/index.js";
import type { ContainerView } from "./cpview.js";
import type { ContainerRecord } from "./types.js";

export interface NetworkAttachment {
  /** Namespaces to join instead of creating new ones: OCI type → path (e.g. network → /run/netns/x). */
  joinNamespaces?: Record<string, string>;
  /** Namespace types to share with the host (not created at all), e.g. ["network"] for --network host. */
  hostNamespaces?: string[];
  /** Extra /etc/hosts lines after the localhost block, e.g. "172.17.0.2\tabc123def456". */
  hostsEntries?: string[];
  /** Full /etc/resolv.conf content; undefined keeps the default (host's, loopback servers removed). */
  resolvConf?: string;
  /** Environment variables the network adds (legacy links); the container's own variables win. */
  env?: string[];
  /** Use the host's /etc/hostname and /etc/hosts semantics (host network). */
  hostMode?: boolean;
  /**
   * Set when the runtime is to create the network namespace (setUp's runtimeNetns):
   * configure it for the created, not yet started, process `pid`.
   */
  afterCreate?: (pid: number) => Promise<void>;
}

export interface NetworkSetUpOptions {
  /** The container gets a user namespace: the runtime must create its network namespace (owned by that user namespace). */
  runtimeNetns?: boolean;
}

export interface ContainerNetworking {
  /** At create: validate the requested networks (404 for unknown ones), record endpoints. */
  onCreate(rec: ContainerRecord): Promise<void>;
  /** Before the runtime creates the container: namespaces, addresses, published ports. */
  setUp(rec: ContainerRecord, opts?: NetworkSetUpOptions): Promise<NetworkAttachment>;
  /** After the container's process ended (or a failed start): release what setUp made. Idempotent. */
  tearDown(rec: ContainerRecord): Promise<void>;
  /** When the container is removed. */
  onRemove(rec: ContainerRecord): Promise<void>;
  /** The address `host-gateway` in --add-host resolves to (the default bridge's gateway). */
  hostGatewayIp(): string | undefined;
  /** Docker's NetworkSettings for inspect (Networks, Ports, IPAddress …). */
  settings(rec: ContainerRecord): Record<string, unknown>;
  /** Docker's `Ports` array for `docker ps`. */
  ports(rec: ContainerRecord): unknown[];
}

export interface ContainerStorage {
  /** At create: validate binds/mounts, create anonymous volumes for the image's VOLUMEs. */
  onCreate(rec: ContainerRecord): Promise<void>;
  /** At start: the mounts to add to the OCI spec (volumes, binds, tmpfs); may copy image content into new volumes. */
  mounts(rec: ContainerRecord, rootfs: string): Promise<OciMount[]>;
  /** The runtime has made the container's mounts, or the start failed: release what mounts() staged for the runtime alone. */
  afterCreate(rec: ContainerRecord): Promise<void>;
  /** When the container is removed; removeVolumes = `docker rm -v` (anonymous volumes only). */
  onRemove(rec: ContainerRecord, removeVolumes: boolean): Promise<void>;
  /** Docker's `Mounts` array for inspect and ps. */
  inspectMounts(rec: ContainerRecord): unknown[];
  /** The volumes and binds `docker cp` shows in the root filesystem (mounted by cpview's helper); release after use. */
  viewMounts(rec: ContainerRecord, rootfs: string): Promise<ContainerView>;
}
