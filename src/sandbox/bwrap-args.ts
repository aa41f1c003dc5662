/**
 * The bubblewrap command line for one sandboxed command. Nothing of the host is visible except the system
 * directories, the paths the caller lists read-only, and the work dir (the only writable host path). The
 * command runs as an unprivileged uid (root is exempt from RLIMIT_NPROC, and an unprivileged uid cannot
 * raise its own limits back) with no capabilities and no network.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { OptibenchError } from '../core/errors.js';
import path from 'node:path';
import type { DeviceNode } from '../core/program.js';
import type { SandboxLimits } from './limits.js';

/** System directories every program needs; the rest of the host file system stays out of sight. */
const SYSTEM_DIRS = ['/usr', '/etc'];
/** On merged-/usr systems these are symlinks into /usr, elsewhere real directories. */
const TOP_LEVEL_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

export interface MountPlan {
  /** The only writable host directory, visible at the same path. */
  readonly workDir: string;
  /** Host paths visible read-only at the same path (the organizer's optibench, model directories...). */
  readonly readOnly: readonly string[];
  /** Host paths that must not be visible even if they lie under a visible one (the labelled dataset). */
  readonly hidden: readonly string[];
  /** Host device nodes bound into the sandbox's own /dev (GPUs: see gpus.ts). */
  readonly devices?: readonly DeviceNode[];
}

export interface BwrapInvocation {
  readonly uid: number;
  readonly cwd: string;
  readonly command: readonly string[];
  readonly limits: SandboxLimits;
  readonly mounts: MountPlan;
  /** A file descriptor bwrap reads a compiled seccomp filter from (see seccomp.ts), if any. */
  readonly seccompFd?: number;
}

function isUnder(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function systemMounts(): string[] {
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) args.push('--ro-bind', dir, dir);
  for (const link of TOP_LEVEL_LINKS) {
    let stat;
    try {
      stat = lstatSync(link);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(link), link);
    else if (stat.isDirectory()) args.push('--ro-bind', link, link);
  }
  return args;
}

/**
 * Each hidden path as given and as it resolves: a path given through a symlink hides the file it points to as
 * well, so the same file is not readable under its real name from another visible folder.
 */
export function resolvedHidden(hidden: readonly string[]): string[] {
  const all = new Set<string>();
  for (const p of hidden) {
    all.add(p);
    try {
      all.add(realpathSync(p));
    } catch {
      // Not there: nothing to hide under another name.
    }
  }
  return [...all];
}

/** How many entries the search for a hidden file's other hard links may look at before giving up. */
const LINK_SEARCH_BUDGET = 500_000;

/**
 * The other names of hidden files that have hard links, under the folders the sandbox sees (the organizer's
 * read-only inputs and the work dir; /usr and /etc are not searched). A hard link is the same inode under
 * another name, which masking by path alone would leave readable. Throws when the search cannot finish.
 */
export function hardLinksOf(hidden: readonly string[], roots: readonly string[]): string[] {
  const wanted = new Map<string, number>();
  for (const file of hidden) {
    try {
      const stat = statSync(file);
      if (stat.isFile() && stat.nlink > 1) wanted.set(`${stat.dev}:${stat.ino}`, stat.nlink);
    } catch {
      // Not there: nothing to hide.
    }
  }
  if (wanted.size === 0) return [];
  const found: string[] = [];
  let budget = LINK_SEARCH_BUDGET;
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (--budget < 0) throw new OptibenchError(`cannot make sure the labels are hidden: a labelled file has hard links, and the folders the sandbox sees hold more than ${LINK_SEARCH_BUDGET} entries to search`);
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const stat = lstatSync(full);
        if (wanted.has(`${stat.dev}:${stat.ino}`)) found.push(full);
      }
    }
  };
  for (const root of roots) {
    try {
      if (statSync(root).isDirectory()) walk(root);
      else {
        const stat = statSync(root);
        if (wanted.has(`${stat.dev}:${stat.ino}`)) found.push(root);
      }
    } catch {
      // A root that is not there mounts nothing.
    }
  }
  return found;
}

/** Every name a hidden file goes by in the sandbox's view: as given, as it resolves, and its hard links. */
export function allHidden(mounts: MountPlan): string[] {
  const resolved = resolvedHidden(mounts.hidden);
  return [...resolved, ...hardLinksOf(resolved, [...mounts.readOnly, mounts.workDir])];
}

/** A hidden path under a visible one is covered: a directory by an empty tmpfs, a file by an empty file. */
function maskArgs(mounts: MountPlan): string[] {
  const visible = [...SYSTEM_DIRS, ...mounts.readOnly, mounts.workDir];
  const args: string[] = [];
  for (const hidden of allHidden(mounts)) {
    if (!visible.some((dir) => isUnder(hidden, dir))) continue;
    let isDir: boolean;
    try {
      isDir = statSync(hidden).isDirectory();
    } catch {
      continue;
    }
    // A device node bound over a file cannot be opened (the mount is nodev): reading it fails with EACCES.
    if (isDir) args.push('--tmpfs', hidden);
    else args.push('--ro-bind', '/dev/null', hidden);
  }
  return args;
}

/** Mount points of the sandbox's own file systems, whose modes are set where they are made. */
const OWN_MOUNTS = ['/', '/tmp', '/dev', '/dev/shm', '/proc'];

/**
 * bwrap makes the folders leading to a bind mount with the host folders' modes, so a path under /root or a
 * 0700 temp folder would be unreachable for the sandbox uid. Those folders exist only in the sandbox's root
 * tmpfs, so opening them up there changes nothing on the host.
 */
function reachabilityArgs(mounts: MountPlan): string[] {
  const bound = [...SYSTEM_DIRS, ...mounts.readOnly, mounts.workDir];
  const ancestors = new Set<string>();
  for (const target of [...mounts.readOnly, mounts.workDir]) {
    for (let dir = path.dirname(target); dir !== path.dirname(dir); dir = path.dirname(dir)) ancestors.add(dir);
  }
  return [...ancestors]
    .filter((dir) => !OWN_MOUNTS.includes(dir) && !bound.some((b) => isUnder(dir, b)))
    .sort()
    .flatMap((dir) => ['--chmod', '0755', dir]);
}

/**
 * Seconds of CPU between RLIMIT_CPU's soft limit (SIGXCPU) and its hard one (SIGKILL). With both equal the
 * kernel sends SIGKILL first, and a CPU overrun would look like a kill from outside the sandbox.
 */
export const CPU_GRACE_SECONDS = 2;

/** rlimits are applied by prlimit after the uid change, so the command cannot raise them again. */
export function prlimitArgs(limits: SandboxLimits): string[] {
  return [
    '/usr/bin/prlimit',
    `--nproc=${limits.processes}`,
    `--data=${limits.memoryBytes}`,
    `--fsize=${Math.min(limits.fileBytes, limits.diskBytes)}`,
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + CPU_GRACE_SECONDS}`,
    '--core=0',
    '--',
  ];
}

export function bwrapArgs(run: BwrapInvocation): string[] {
  const { mounts, limits } = run;
  return [
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'optibench-sandbox',
    // If optibench dies, even by SIGKILL, the sandbox dies with it: no orphaned submission keeps running.
    '--die-with-parent',
    '--new-session',
    ...(run.seccompFd === undefined ? [] : ['--seccomp', String(run.seccompFd)]),
    ...systemMounts(),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    ...(mounts.devices ?? []).flatMap((d) => ['--dev-bind', d.host, d.at]),
    '--perms',
    '1777',
    '--size',
    String(limits.tmpBytes),
    '--tmpfs',
    '/tmp',
    '--perms',
    '1777',
    '--size',
    String(limits.tmpBytes),
    '--tmpfs',
    '/dev/shm',
    ...mounts.readOnly.flatMap((p) => ['--ro-bind', p, p]),
    '--bind',
    mounts.workDir,
    mounts.workDir,
    ...maskArgs(mounts),
    ...reachabilityArgs(mounts),
    '--chdir',
    run.cwd,
    // Only to switch to the unprivileged uid; setpriv then drops every capability and the bounding set.
    '--cap-add',
    'CAP_SETUID',
    '--cap-add',
    'CAP_SETGID',
    '--',
    '/usr/bin/setpriv',
    `--reuid=${run.uid}`,
    `--regid=${run.uid}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
    ...prlimitArgs(limits),
    ...run.command,
  ];
}
