/**
 * Networks backend, the entry file of engine/networks/ (one file per role): Docker's
 * networks (the default `bridge` on the Linux bridge berth0, `host`, `none`, and
 * user-defined bridge networks) and the container side of networking.
 *  - model.ts       the records (networks, a container's memberships and endpoints);
 *  - state.ts       what the parts share: records on disk, lookups, leases, port
 *                   reservations, the iptables and embedded-DNS models;
 *  - api.ts         the /networks routes (ls, inspect, rm, prune, connect, disconnect);
 *                   create.ts network create, schemas.ts the request bodies;
 *  - attach.ts      the containers' networking seam (plugs.ts ContainerNetworking): a network
 *                   namespace per container with a veth per network, published ports,
 *                   /etc files (etcfiles.ts), inspect/ps views (settings.ts); memberships
 *                   from the record (attachments.ts); addresses and teardown (endpoints.ts);
 *  - reconcile.ts   start-up repair (bridges.ts: the host's bridges and address pools).
 * NetworkService is the /networks API plus the wiring: `attachment` for the containers
 * backend and the build, init() and reconcile() for start-up.
 */
import { NetworkApi } from "./networks/api.js";
import { NetworkAttacher } from "./networks/attach.js";
import { Endpoints } from "./networks/endpoints.js";
import type { NetworkServiceOptions } from "./networks/model.js";
import { NetworkReconciler } from "./networks/reconcile.js";
import { NetworkState } from "./networks/state.js";

export { DEFAULT_BRIDGE, NOT_JOINED, type ContainerLookup, type EndpointConfigIn, type NetworkRecord, type IpamConfig, type NetworkServiceOptions } from "./networks/model.js";
export { NetworkConnectSchema, NetworkCreateSchema, NetworkDisconnectSchema, type NetworkCreateBody } from "./networks/schemas.js";

export class NetworkService extends NetworkApi {
  /** What the containers backend (and the build's RUN steps) call at create, start, stop and remove. */
  readonly attachment: NetworkAttacher;
  private readonly reconciler: NetworkReconciler;

  constructor(o: NetworkServiceOptions) {
    const s = new NetworkState(o);
    const endpoints = new Endpoints(s);
    super(s, endpoints);
    this.attachment = new NetworkAttacher(s, endpoints);
    this.reconciler = new NetworkReconciler(s, endpoints, this.attachment);
  }

  /** Start-up: records, bridges, and what a crash left (leases, namespaces, iptables chains). */
  init(): Promise<void> {
    return this.reconciler.init();
  }

  /** After the containers backend reconciled: undo the networking of containers gone or stopped. */
  reconcile(): Promise<void> {
    return this.reconciler.reconcile();
  }

  /** Wait for background endpoint reaping (tests, network removal). */
  settle(): Promise<void> {
    return this.endpoints.settle();
  }
}
