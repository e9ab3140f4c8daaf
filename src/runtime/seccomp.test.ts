import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EngineError } from "../util/errors.js";
import { type OciSeccomp, type SeccompHost, defaultSeccompProfile, profileFromDockerJson } from "./seccomp.js";
import { DEFAULT_CAPABILITIES } from "./ocispec/index.js";

const AMD64: SeccompHost = { arch: "amd64", kernel: [6, 1, 0] };
const ARM64: SeccompHost = { arch: "arm64", kernel: [6, 1, 0] };

/** Every name the filter allows unconditionally (no argument conditions). */
function allowed(p: OciSeccomp): Set<string> {
  return new Set(p.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names));
}

describe("default seccomp profile", () => {
  it("is an allowlist: EPERM for everything not listed, on the host's architectures", () => {
    const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, AMD64);
    assert.equal(p.defaultAction, "SCMP_ACT_ERRNO");
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES, ARM64).architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    const names = allowed(p);
    assert.ok(names.size > 340, `${names.size} names allowed`);
    for (const n of ["read", "write", "openat", "execve", "futex", "epoll_pwait", "chroot", "arch_prctl", "ptrace"]) assert.ok(names.has(n), n);
    for (const n of ["io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "mount", "unshare", "setns", "bpf", "kexec_load", "init_module", "reboot", "userfaultfd", "open_by_handle_at", "set_tls"]) {
      assert.ok(!names.has(n), `${n} must not be allowed with Docker's default capabilities`);
    }
  });

  it("allows socket for every family but AF_VSOCK, and personality only with Docker's values", () => {
    const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, AMD64);
    const socket = p.syscalls.filter((s) => s.names.includes("socket"));
    assert.deepEqual(socket, [{ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 40, op: "SCMP_CMP_NE" }] }]);
    const personality = p.syscalls.filter((s) => s.names.includes("personality")).map((s) => s.args?.[0]?.value);
    assert.deepEqual(personality, [0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it("without CAP_SYS_ADMIN: clone without namespace flags, clone3 answers ENOSYS", () => {
    const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, AMD64);
    const clone = p.syscalls.filter((s) => s.names.includes("clone"));
    assert.deepEqual(clone, [{ names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0x7e020000, op: "SCMP_CMP_MASKED_EQ" }] }]);
    assert.deepEqual(p.syscalls.filter((s) => s.names.includes("clone3")), [{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }]);
  });

  it("is relaxed per capability like Docker's", () => {
    const base = allowed(defaultSeccompProfile(DEFAULT_CAPABILITIES, AMD64));
    const grants: [string, string[]][] = [
      ["CAP_SYS_ADMIN", ["mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "perf_event_open", "sethostname", "fsopen"]],
      ["CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]],
      ["CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]],
      ["CAP_SYS_BOOT", ["reboot"]],
      ["CAP_SYS_TIME", ["settimeofday", "clock_settime"]],
      ["CAP_SYS_NICE", ["mbind", "set_mempolicy"]],
      ["CAP_SYS_RAWIO", ["iopl", "ioperm"]],
      ["CAP_DAC_READ_SEARCH", ["open_by_handle_at"]],
      ["CAP_BPF", ["bpf"]],
      ["CAP_PERFMON", ["perf_event_open"]],
    ];
    for (const [cap, calls] of grants) {
      const p = defaultSeccompProfile([...DEFAULT_CAPABILITIES, cap], AMD64);
      const names = allowed(p);
      for (const c of calls) {
        assert.ok(!base.has(c), `${c} is not allowed by default`);
        assert.ok(names.has(c), `${cap} allows ${c}`);
      }
      if (cap === "CAP_SYS_ADMIN") assert.ok(!p.syscalls.some((s) => s.names.includes("clone3") && s.action === "SCMP_ACT_ERRNO"), "no ENOSYS rule for clone3");
    }
    assert.ok(!allowed(defaultSeccompProfile(DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_SYS_CHROOT"), AMD64)).has("chroot"), "chroot needs CAP_SYS_CHROOT");
  });

  it("keeps arch-specific rules to their architectures", () => {
    assert.ok(allowed(defaultSeccompProfile(DEFAULT_CAPABILITIES, ARM64)).has("set_tls"));
    assert.ok(!allowed(defaultSeccompProfile(DEFAULT_CAPABILITIES, ARM64)).has("arch_prctl"));
    assert.ok(allowed(defaultSeccompProfile(DEFAULT_CAPABILITIES, AMD64)).has("modify_ldt"));
  });
});

describe("Docker profile translation", () => {
  const translate = (profile: unknown, caps: string[] = [], host: SeccompHost = AMD64) => profileFromDockerJson(JSON.stringify(profile), caps, host);

  it("carries args (index, value, valueTwo, op), errnoRet and defaultErrnoRet over", () => {
    const p = translate({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 38,
      syscalls: [
        { names: ["write"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 2, value: 0xff, valueTwo: 0x10, op: "SCMP_CMP_MASKED_EQ" }] },
        { name: "mkdir", action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      ],
    });
    assert.deepEqual(p, {
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 38,
      syscalls: [
        { names: ["write"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 2, value: 0xff, valueTwo: 0x10, op: "SCMP_CMP_MASKED_EQ" }] },
        { names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      ],
    });
  });

  it("keeps or drops rules by includes/excludes: all included caps, any excluded cap, arches, minKernel", () => {
    const profile = {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["a"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_X", "CAP_Y"] } },
        { names: ["b"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_X"] } },
        { names: ["c"], action: "SCMP_ACT_ALLOW", includes: { arches: ["arm64"] } },
        { names: ["d"], action: "SCMP_ACT_ALLOW", excludes: { arches: ["amd64"] } },
        { names: ["e"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "6.1" } },
        { names: ["f"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "6.2.0" } },
        { names: ["g"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "5.10" } },
      ],
    };
    const names = (caps: string[], host: SeccompHost) => translate(profile, caps, host).syscalls.flatMap((s) => s.names).join("");
    assert.equal(names([], AMD64), "be");
    assert.equal(names(["CAP_X"], AMD64), "e");
    assert.equal(names(["CAP_X", "CAP_Y"], AMD64), "ae");
    assert.equal(names([], ARM64), "bcde");
    assert.equal(names([], { arch: "amd64", kernel: [5, 4, 0] }), "bg");
  });

  it("takes the host's entry of archMap, or architectures as given", () => {
    const archMap = [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] }, { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] }];
    assert.deepEqual(translate({ defaultAction: "SCMP_ACT_ALLOW", archMap }).architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    assert.deepEqual(translate({ defaultAction: "SCMP_ACT_ALLOW", archMap }, [], ARM64).architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    assert.deepEqual(translate({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"] }).architectures, ["SCMP_ARCH_X86_64"]);
    assert.equal(translate({ defaultAction: "SCMP_ACT_ALLOW" }).architectures, undefined);
  });

  it("refuses broken profiles with a 400 naming the problem", () => {
    const cases: [string, RegExp][] = [
      ["{", /decoding seccomp profile failed/],
      [JSON.stringify({ syscalls: [] }), /defaultAction/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_NOPE" }), /defaultAction/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"], archMap: [{ architecture: "SCMP_ARCH_X86_64" }] }), /use either 'architectures' or 'archMap'/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ name: "a", names: ["b"], action: "SCMP_ACT_ALLOW" }] }), /use either 'name' or 'names'/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ action: "SCMP_ACT_ALLOW" }] }), /without 'name' or 'names'/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["a"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_LIKE" }] }] }), /syscalls\.0\.args\.0\.op/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["a"], action: "SCMP_ACT_ALLOW", args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }] }] }), /index/],
      [JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["a"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "new" } }] }), /invalid minKernel "new"/],
      ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}', /args\.0\.value: Too big/],
    ];
    for (const [text, msg] of cases) {
      assert.throws(() => profileFromDockerJson(text, [], AMD64), (e: unknown) => e instanceof EngineError && e.kind === "invalid" && msg.test(e.message), text);
    }
  });
});
