/**
 * One measured phase in a fresh process: `phase-entry <phase> <modelDir> <cacheDir>`. Prints one JSON line:
 * the phase's wall and CPU seconds, its laps, the resident memory before it started (Node and the modules) and the peak.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { PHASES, runPhase, type PhaseName } from './phases.js';
import { peakResidentBytes, residentBytes } from './memory.js';

const [phase, modelDir, cacheDir] = process.argv.slice(2);
if (!PHASES.includes(phase as PhaseName) || !modelDir || !cacheDir) {
  process.stderr.write(`usage: phase-entry <${PHASES.join('|')}> <modelDir> <cacheDir>\n`);
  process.exit(2);
}
const startRssBytes = residentBytes();
// The machine's 1-minute load average before and after: how much the wall time was shared.
const loadBefore = os.loadavg()[0]!;
const start = performance.now();
const cpuStart = process.cpuUsage();
const laps: Record<string, number> = {};
const facts = await runPhase(phase as PhaseName, { modelDir, cacheDir }, (name) => {
  laps[name] = (performance.now() - start) / 1000;
});
const seconds = (performance.now() - start) / 1000;
// CPU time (user + system, all threads) next to the wall time: on a shared machine the wall time also holds
// the waits for a core.
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(`${JSON.stringify({ phase, seconds, cpuSeconds, loadAverage: [loadBefore, os.loadavg()[0]!], laps, startRssBytes, peakRssBytes: peakResidentBytes(), facts })}\n`);
