/**
 * Tar, by job: extraction of layer tars (tar-extract.ts, entries applied by
 * tar-apply.ts), header encoding (tar-header.ts) and packing a directory tree
 * (tar-pack.ts, the one writer for cp/export/commit/build). This file is their
 * entry point inside the image package.
 */
export { extractLayer, extractCopy, type ExtractOptions, type ExtractResult, type CopyInOptions } from "./tar-extract.js";
export { encodeTarHeader, tarEnd, tarPadding, type TarEntryHeader, type TarEntryType } from "./tar-header.js";
export { packDirectory, tarTree, opaqueDirs, type TreeTarOptions } from "./tar-pack.js";
