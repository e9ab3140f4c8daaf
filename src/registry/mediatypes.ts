/** Manifest media types and the shapes of the documents we read. */
export const MT = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociEmpty: "application/vnd.oci.empty.v1+json",
} as const;

/** What a client that pulls images accepts, in Docker's order of preference. */
export const PULL_ACCEPT: readonly string[] = [MT.dockerManifestList, MT.ociIndex, MT.dockerManifest, MT.ociManifest];

export function isIndexType(mt: string | undefined): boolean {
  return mt === MT.dockerManifestList || mt === MT.ociIndex;
}

export function isImageManifestType(mt: string | undefined): boolean {
  return mt === MT.dockerManifest || mt === MT.ociManifest;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The media type of a manifest document: its own field, else guessed from its shape. */
export function detectMediaType(doc: unknown): string | undefined {
  if (typeof doc !== "object" || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  if (typeof d.mediaType === "string" && d.mediaType !== "") return d.mediaType;
  if (Array.isArray(d.manifests)) return MT.ociIndex;
  if (typeof d.config === "object" && d.config !== null) return MT.ociManifest;
  if (d.schemaVersion === 1) return d.signatures ? MT.dockerSchema1Signed : MT.dockerSchema1;
  return undefined;
}
