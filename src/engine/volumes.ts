/**
 * Volumes backend, the entry file of engine/volumes/ (one file per role):
 *  - state.ts    what the parts share: the local driver, Docker's references, the mounts in use;
 *  - api.ts      the /volumes routes (create, ls, inspect, rm, prune) and the df view;
 *  - register.ts the mount points of a new container (--volumes-from, -v, --mount, VOLUMEs);
 *  - attach.ts   the containers' storage seam (plugs.ts ContainerStorage): mounts at start,
 *                `docker cp`'s view, anonymous volumes at removal; ocimounts.ts and stage.ts
 *                are its host side (bind sources, targets, copy-up, subpath stages).
 * VolumeService is the /volumes API plus the wiring: `storage` for the containers backend,
 * init() and settle() for start-up repair (subpath stages a crash left; mounts no running
 * container uses, once the containers backend reconciled).
 */
import { VolumeApi } from "./volumes/api.js";
import { VolumeAttachment } from "./volumes/attach.js";
import { SubpathStages } from "./volumes/stage.js";
import { VolumeState, type VolumeServiceOptions } from "./volumes/state.js";

export { VolumeCreateSchema, type VolumeCreateBody, type VolumeInfo } from "./volumes/api.js";
export type { ContainerLookup, VolumeServiceOptions } from "./volumes/state.js";

export class VolumeService extends VolumeApi {
  /** What the containers backend calls at create, start, cp and remove. */
  readonly storage: VolumeAttachment;
  private readonly stages: SubpathStages;

  constructor(o: VolumeServiceOptions) {
    super(new VolumeState(o));
    this.stages = new SubpathStages(o.stageRoot, o.log);
    this.storage = new VolumeAttachment(this.s, this.stages);
  }

  async init(): Promise<void> {
    await this.s.driver.init();
    await this.stages.collect();
  }

  /** After the containers backend reconciled (and whenever mounts may be unused): unmount what no running container uses. */
  settle(): Promise<void> {
    return this.s.settle();
  }
}
