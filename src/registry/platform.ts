/**
 * Choosing one manifest from an image index / manifest list the way Docker
 * (containerd's `platforms.Only`) does: normalize names (x86_64 → amd64,
 * aarch64 → arm64, armhf → arm/v7, …), then try the wanted platform and the
 * ones it can also run, in order (arm64 → arm/v7 → arm/v6 → arm/v5;
 * amd64/v3 → v2 → v1 → 386). The first index entry matching the best candidate
 * wins. Entries without a platform are taken only when nothing else matches.
 */
import type { Descriptor, Platform } from "./mediatypes.js";

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

interface Norm {
  os: string;
  architecture: string;
  variant: string;
}

export function normalizePlatform(p: PlatformSpec): Norm {
  const os = p.os.toLowerCase() === "macos" ? "darwin" : p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  switch (arch) {
    case "i386":
    case "i686":
      arch = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (variant === "8" || variant === "v8") variant = "";
      break;
    case "armhf":
      arch = "arm";
      variant = "v7";
      break;
    case "armel":
      arch = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "") variant = "v7";
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  return { os, architecture: arch, variant };
}

/** The wanted platform followed by the ones it can also run, best first. */
function platformVector(want: Norm): Norm[] {
  const out: Norm[] = [want];
  const { os } = want;
  if (want.architecture === "amd64") {
    const level = /^v(\d)$/.exec(want.variant)?.[1];
    for (let v = level ? Number(level) - 1 : 0; v >= 1; v--) out.push({ os, architecture: "amd64", variant: v === 1 ? "" : `v${v}` });
    out.push({ os, architecture: "386", variant: "" });
  } else if (want.architecture === "arm64") {
    for (const v of ["v7", "v6", "v5"]) out.push({ os, architecture: "arm", variant: v });
  } else if (want.architecture === "arm") {
    const level = Number(/^v(\d)$/.exec(want.variant)?.[1] ?? "7");
    for (let v = level - 1; v >= 5; v--) out.push({ os, architecture: "arm", variant: `v${v}` });
  }
  return out;
}

function same(a: Norm, b: Norm): boolean {
  return a.os === b.os && a.architecture === b.architecture && a.variant === b.variant;
}

/** Pick the manifest for a platform from an index (undefined when none can run there). */
export function selectPlatform<D extends { platform?: Platform; annotations?: Record<string, string> }>(
  index: { manifests?: D[] },
  want: PlatformSpec,
): D | undefined {
  const entries = index.manifests ?? [];
  for (const cand of platformVector(normalizePlatform(want))) {
    for (const d of entries) {
      if (!d.platform) continue;
      if (same(normalizePlatform(d.platform), cand)) return d;
    }
  }
  return entries.find((d) => !d.platform && d.annotations?.["vnd.docker.reference.type"] === undefined);
}

/** The platform of this machine in OCI terms (linux/amd64, linux/arm64, linux/arm/v7, …). */
export function hostPlatform(): PlatformSpec {
  const map: Record<string, PlatformSpec> = {
    x64: { os: "linux", architecture: "amd64" },
    arm64: { os: "linux", architecture: "arm64", variant: "v8" },
    arm: { os: "linux", architecture: "arm", variant: "v7" },
    ia32: { os: "linux", architecture: "386" },
    ppc64: { os: "linux", architecture: "ppc64le" },
    s390x: { os: "linux", architecture: "s390x" },
    riscv64: { os: "linux", architecture: "riscv64" },
  };
  return map[process.arch] ?? { os: "linux", architecture: process.arch };
}

export type { Descriptor };
