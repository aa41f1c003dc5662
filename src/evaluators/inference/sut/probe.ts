/**
 * `optibench submission check`'s last step: start the submission's SUT and wait for its hello, so a command
 * that does not speak the protocol (or a config whose plugins do not load) is caught before a re-run. On a
 * machine that can sandbox, it starts in the sandbox like a re-run; elsewhere it is the team's own code on the
 * team's own machine, started as the user.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ProbeOptions, ProbeOutcome, SubmissionRun } from '../../../core/evaluator.js';
import type { ProgramLimits } from '../../../core/program.js';
import { SutClient, SutFailure, type SutChannel } from './client.js';
import { optibenchMounts, serveCommand, startLocalSut } from './local.js';

const GiB = 1024 ** 3;

export async function probeSut(run: SubmissionRun, root: string, options: ProbeOptions): Promise<ProbeOutcome> {
  const repo = path.resolve(root);
  const command = 'command' in run ? [...run.command] : serveCommand(path.join(repo, run.config));
  const work = await mkdtemp(path.join(os.tmpdir(), 'optibench-probe-'));
  const home = path.join(work, 'home');
  await mkdir(home);
  let channel: SutChannel & { stop(): void };
  let where: string;
  if (options.programs) {
    const limits: ProgramLimits = { wallSeconds: options.seconds + 15, cpuSeconds: (options.seconds + 15) * 8, memoryBytes: 16 * GiB, processes: 512, fileBytes: GiB, diskBytes: 2 * GiB, tmpBytes: GiB };
    const running = await options.programs.start({
      command,
      cwd: repo,
      workDir: work,
      inputs: 'config' in run ? [repo, ...optibenchMounts()] : [repo],
      hidden: [],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', TMPDIR: '/tmp', PYTHONUNBUFFERED: '1' },
      limits,
    });
    channel = { ...running, ended: running.outcome.then((o) => o.violation?.message ?? `exited with code ${o.exitCode}`), stop: () => running.stop('the probe is over') };
    where = 'in the sandbox';
  } else {
    channel = startLocalSut(command, { cwd: repo, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    where = 'as you (no sandbox on this machine: not root, or no bubblewrap)';
  }
  try {
    const client = new SutClient(channel);
    const hello = await client.hello(options.seconds * 1000);
    await client.close(5000).catch(() => {});
    return { ok: true, message: `the SUT "${hello.name}" said hello (started ${where})` };
  } catch (error) {
    if (error instanceof SutFailure) return { ok: false, message: `${error.message} (started ${where}: ${command.join(' ')})` };
    throw error;
  } finally {
    channel.stop();
    await Promise.race([channel.ended, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await rm(work, { recursive: true, force: true });
  }
}
