/**
 * The sandbox's seccomp filter, as the compiled classic-BPF program bwrap's `--seccomp <fd>` loads: the kernel
 * keyring calls (add_key, request_key, keyctl) fail with EPERM, so nothing a submission stores there can be
 * found by a later run, whatever uid it gets. Syscalls of another ABI than the machine's own (x32, i386 on
 * x86-64) fail the same way, so the keyring cannot be reached through their numbers either.
 *
 * Written by hand because the program is eight instructions, and libseccomp's tools are not installed
 * everywhere bubblewrap is; `test/sandbox/seccomp.test.ts` runs it in a real sandbox.
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
  readonly x32: boolean;
}

const ABIS: Record<string, Abi> = {
  x64: { audit: 0xc000003e, keyring: [248, 249, 250], x32: true },
  arm64: { audit: 0xc00000b7, keyring: [217, 218, 219], x32: false },
};

type Instruction = [code: number, jt: number, jf: number, k: number];

/** The filter for this machine's architecture, or null where optibench does not know its syscall numbers. */
export function keyringFilter(arch: string = os.arch()): Buffer | null {
  const abi = ABIS[arch];
  if (!abi) return null;
  const [addKey, requestKey, keyctl] = abi.keyring;
  // Jump offsets count instructions after the jump; DENY is the last instruction but one, ALLOW the last.
  const program: Instruction[] = [
    [BPF_LD_W_ABS, 0, 0, ARCH],
    [BPF_JEQ_K, 1, 0, abi.audit], // native ABI: go on; otherwise deny
    [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM],
    [BPF_LD_W_ABS, 0, 0, NR],
    [BPF_JGE_K, abi.x32 ? 3 : 0, 0, abi.x32 ? X32_SYSCALL_BIT : 0xffffffff], // x32 numbers: deny
    [BPF_JEQ_K, 2, 0, addKey],
    [BPF_JEQ_K, 1, 0, requestKey],
    [BPF_JEQ_K, 0, 1, keyctl],
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
