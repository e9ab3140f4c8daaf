/**
 * The volume subsystem: the local volume driver (volumes under
 * <data-root>/volumes/<name>/_data, metadata written atomically), Docker's mount
 * spec parser (-v, --mount, --volumes-from), and the file system helpers that
 * prepare mounts inside a container's root (safe mkdir, copy-up of image content, the
 * mounts of a `docker cp` view).
 * Other folders import from here only.
 */
export { LocalDriver, DEFAULT_DRIVER, ANONYMOUS_LABEL, validateOptions } from "./local.js";
export type { VolumeRecord } from "./local.js";
export {
  parseMountRaw,
  parseMountSpec,
  parseVolumesFrom,
  convertTmpfsOptions,
  readWrite,
  validMountMode,
  byDepth,
  VOLUME_NAME_RE,
  volumeNameError,
  DEFAULT_PROPAGATION,
} from "./parser.js";
export type { MountPoint, MountSpec, MountType } from "./parser.js";
export { resolveInRoot, mkdirInRoot, createFileInRoot, within } from "./rootfs.js";
export { copyTree, isEmptyDir, dirSize } from "./copy.js";
export type { CopyStats } from "./copy.js";
export { mountPoints, isMountPoint, mountsAtOrUnder, parseMountinfo } from "./mountinfo.js";
export { mountView } from "./view.js";
export { openSubpath } from "./subpath.js";
export type { ViewMount } from "./view.js";
