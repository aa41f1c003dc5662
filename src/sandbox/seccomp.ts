/**
 * The sandbox's seccomp filter, as the compiled classic-BPF program bwrap's `--seccomp <fd>` loads: the kernel
 * keyring calls (add_key, request_key, keyctl) fail with EPERM, so nothing a submission stores there can be
 * found by a later run, whatever uid it gets. In a sandbox pinned to some CPUs, sched_setaffinity fails the
 * same way, so no process inside can run on more CPUs than it was given. Syscalls of another ABI than the
 * machine's own (x32, i386 on x86-64) are refused altogether, so nothing is reached through their numbers.
 *
 * Written by hand because the program is a dozen instructions, and libseccomp's tools are not installed
 * everywhere bubblewrap is; `test/sandbox/sandbox.test.ts` runs it in a real sandbox.
 */
import os from 'node:os';

// struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }, host byte order.
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
/** offsetof(struct seccomp_data, nr) and (…, arch). */
const NR = 0;
const ARCH = 4;
const X32_SYSCALL_BIT = 0x40000000;

interface Abi {
  readonly audit: number;
  /** add_key, request_key, keyctl */
  readonly keyring: readonly [number, number, number];
  readonly setAffinity: number;
  readonly x32: boolean;
}

const ABIS: Record<string, Abi> = {
  x64: { audit: 0xc000003e, keyring: [248, 249, 250], setAffinity: 203, x32: true },
  arm64: { audit: 0xc00000b7, keyring: [217, 218, 219], setAffinity: 122, x32: false },
};

export interface FilterOptions {
  /** The sandbox is pinned to some CPUs: refuse sched_setaffinity too. */
  readonly pinned?: boolean;
}

type Instruction = [code: number, jt: number, jf: number, k: number];

/** The filter for this machine's architecture, or null where optibench does not know its syscall numbers. */
export function sandboxFilter(options: FilterOptions = {}, arch: string = os.arch()): Buffer | null {
  const abi = ABIS[arch];
  if (!abi) return null;
  const denied = [...abi.keyring, ...(options.pinned ? [abi.setAffinity] : [])];
  // Jump offsets count instructions after the jump; DENY is the last instruction but one, ALLOW the last.
  const checks: Instruction[] = denied.map((nr, i) => (i === denied.length - 1 ? [BPF_JEQ_K, 0, 1, nr] : [BPF_JEQ_K, denied.length - 1 - i, 0, nr]));
  const program: Instruction[] = [
    [BPF_LD_W_ABS, 0, 0, ARCH],
    [BPF_JEQ_K, 1, 0, abi.audit], // native ABI: go on; otherwise deny
    [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM],
    [BPF_LD_W_ABS, 0, 0, NR],
    [BPF_JGE_K, abi.x32 ? checks.length : 0, 0, abi.x32 ? X32_SYSCALL_BIT : 0xffffffff], // x32 numbers: deny
    ...checks,
    [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM],
    [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
  ];
  const buffer = Buffer.alloc(program.length * 8);
  const le = os.endianness() === 'LE';
  program.forEach(([code, jt, jf, k], i) => {
    if (le) {
      buffer.writeUInt16LE(code, i * 8);
      buffer.writeUInt32LE(k >>> 0, i * 8 + 4);
    } else {
      buffer.writeUInt16BE(code, i * 8);
      buffer.writeUInt32BE(k >>> 0, i * 8 + 4);
    }
    buffer.writeUInt8(jt, i * 8 + 2);
    buffer.writeUInt8(jf, i * 8 + 3);
  });
  return buffer;
}
