/**
 * What the CPU offers that changes which ONNX Runtime kernels are exact. Read once per process from
 * /proc/cpuinfo (Linux); elsewhere the conservative answer.
 */
import { readCpuinfo } from '../core/cpuinfo.js';

/**
 * Whether ONNX Runtime's uint8 x int8 integer matmul is exact here. On x86-64 without VNNI (AVX-VNNI or
 * AVX512-VNNI) MLAS multiplies with `vpmaddubsw`, which adds pairs of uint8 x int8 products in 16 bits and
 * saturates (255 x 127 x 2 > 32767): large codes give wrong sums. Arm's dot-product kernels do not saturate.
 */
export function signedInt8MatmulExact(): boolean {
  if (process.arch !== 'x64') return true;
  // Unreadable /proc/cpuinfo gives no flags: the conservative answer.
  const { flags } = readCpuinfo();
  return flags.includes('avx512_vnni') || flags.includes('avx_vnni');
}
