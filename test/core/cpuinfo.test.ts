import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MATMUL_ISA_FLAGS, parseCpuinfo, readCpuinfo } from '../../src/core/cpuinfo.js';
import { captureEnvironment, describeCpuIdentity } from '../../src/core/environment.js';

// Two processors of an x86 VM, as Linux prints them (abridged); the second must not leak into the first.
const X86 = `processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni avx512_bf16
bugs\t\t: sysret_ss_attrs

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
stepping\t: 8
flags\t\t: fpu amx_tile
`;

// An Arm host: no family line, a hex "CPU part" that is not a decimal model, features under another name.
const ARM = `processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1
`;

describe('parseCpuinfo', () => {
  it("reads the first processor's vendor, family, model, stepping and flags", () => {
    expect(parseCpuinfo(X86)).toEqual({
      vendor: 'AuthenticAMD',
      family: 26,
      model: 2,
      stepping: 1,
      flags: ['fpu', 'sse2', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16'],
    });
  });

  it("takes an Arm host's Features as its flags and invents no family or model", () => {
    const info = parseCpuinfo(ARM);
    expect(info.family).toBeUndefined();
    expect(info.model).toBeUndefined();
    expect(info.flags).toContain('asimddp');
    expect(info.flags).toHaveLength(16);
  });

  it('gives no flags and no identity for an empty or foreign text', () => {
    expect(parseCpuinfo('')).toEqual({ flags: [] });
    expect(parseCpuinfo('model\t: 0x1f\ncpu family : seven\n')).toEqual({ flags: [] });
  });
});

describe("this machine's CPU", () => {
  it('matches lscpu (util-linux) on family, model, stepping and the matrix instruction sets', async () => {
    const lscpu = spawnSync('lscpu', [], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    expect(lscpu.status).toBe(0);
    const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(lscpu.stdout)?.[1]?.trim();
    const info = readCpuinfo();
    if (process.arch === 'x64') {
      expect(info.family).toBe(Number(field('CPU family')));
      expect(info.model).toBe(Number(field('Model')));
      expect(info.stepping).toBe(Number(field('Stepping')));
    }
    const lscpuFlags = new Set(field('Flags')?.split(/\s+/) ?? []);
    const env = await captureEnvironment();
    expect(env.cpu.isa).toEqual(MATMUL_ISA_FLAGS.filter((flag) => lscpuFlags.has(flag)));
    expect(env.cpu.family).toBe(info.family);
    if (process.arch === 'x64') expect(describeCpuIdentity(env.cpu)).toMatch(new RegExp(`^family ${field('CPU family')}, model ${field('Model')}, stepping ${field('Stepping')}(; |$)`));
  });
});

describe('describeCpuIdentity', () => {
  const cpu = { brand: 'EPYC', manufacturer: 'AMD', cores: 2, physicalCores: 2, speedGHz: 0 };
  it('says what was recorded and nothing else', () => {
    expect(describeCpuIdentity({ ...cpu, family: 25, model: 17, stepping: 1, isa: ['avx2', 'avx512f'] })).toBe('family 25, model 17, stepping 1; avx2 avx512f');
    expect(describeCpuIdentity({ ...cpu, isa: ['asimd', 'asimddp'] })).toBe('asimd asimddp');
    expect(describeCpuIdentity({ ...cpu, family: 6, isa: [] })).toBe('family 6');
    expect(describeCpuIdentity(cpu)).toBe('');
  });
});
