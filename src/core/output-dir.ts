/**
 * Every folder a command writes into (`-o`, `--output`, `--cache-dir`, a positional output folder) is checked
 * before anything is computed: created, a probe file written and removed. Without it a read-only or full file
 * system, or a file where a folder should be, ended in a stack trace after the whole run had been computed,
 * and a path under /proc made Node's recursive mkdir spin at 100% CPU forever (mkdir there answers ENOENT
 * for a parent that exists, and Node retries). Kernel file systems are refused before mkdir is tried.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync, statfsSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OptibenchError } from './errors.js';

/** statfs magic numbers of file systems the kernel synthesises (linux/magic.h): nothing is stored there. */
const KERNEL_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x1cd1, 'devpts'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x65735543, 'fusectl'],
]);

/** Device nodes and kernel interfaces; /dev/shm is an ordinary tmpfs and stays allowed. */
const REFUSED_TREES = ['/proc', '/sys', '/dev'];
const ALLOWED_UNDER_REFUSED = ['/dev/shm'];

const under = (p: string, root: string) => p === root || p.startsWith(`${root}/`);

/** The deepest part of `target` that exists, resolved through links (what mkdir would start from). */
function nearestExisting(target: string): string {
  for (let p = target; ; p = path.dirname(p)) {
    try {
      return realpathSync(p);
    } catch {
      if (path.dirname(p) === p) return p;
    }
  }
}

/** Refuses a path on a kernel file system (proc, sysfs, /dev, ...), where writing is meaningless or hangs. */
export function refuseKernelPath(target: string, flag: string): void {
  const absolute = path.resolve(target);
  const existing = nearestExisting(absolute);
  // Where the path leads, by the links that exist and by the words it was given: /proc/self/.. tricks included.
  for (const p of [absolute, existing]) {
    const root = REFUSED_TREES.find((r) => under(p, r));
    if (root && !ALLOWED_UNDER_REFUSED.some((a) => under(p, a))) {
      throw new OptibenchError(`${root} is a kernel file system, not a place for files: choose a folder on a disk`, { file: absolute, key: flag });
    }
  }
  let type: number | undefined;
  try {
    type = statfsSync(existing).type;
  } catch {
    // No statfs here (not Linux, or unreadable): the path check above is what there is.
  }
  const name = type === undefined ? undefined : KERNEL_FILE_SYSTEMS.get(type);
  if (name) throw new OptibenchError(`${existing} is on a ${name} file system, not a place for files: choose a folder on a disk`, { file: absolute, key: flag });
}

const REASONS: Readonly<Record<string, string>> = {
  EROFS: 'it is on a read-only file system',
  ENOSPC: 'the file system is full',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'part of the path is a file, not a folder',
  EEXIST: 'it is a file, not a folder',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'the path loops through symbolic links',
  EIO: 'the disk reported an I/O error',
};

/** A user-facing reason for a file-system error code, or undefined when the error is not one of those. */
export function fileSystemReason(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code && code in REASONS ? `${REASONS[code]} (${code})` : undefined;
}

/**
 * mkdir -p one level at a time: Node's recursive mkdir reports a read-only file system as ENOENT (and loops on
 * /proc), while a plain mkdir of each missing level says what is wrong with that level.
 */
async function mkdirEach(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let p = dir; !existsSync(p); p = path.dirname(p)) {
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      await mkdir(p);
    } catch (error) {
      // Made meanwhile by someone else: as good as made here.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(p).isDirectory()) throw error;
    }
  }
}

/**
 * Makes sure `dir` can hold files: refuses kernel paths, creates it, writes and removes a probe file. Throws a
 * one-line OptibenchError naming the folder, the flag and what is wrong. Returns the absolute folder.
 */
export async function ensureWritableDir(dir: string, flag: string): Promise<string> {
  const absolute = path.resolve(dir);
  refuseKernelPath(absolute, flag);
  const fail = (error: unknown): never => {
    const reason = fileSystemReason(error);
    if (!reason) throw error;
    throw new OptibenchError(`cannot write into this folder: ${reason}`, { file: absolute, key: flag }, { cause: error });
  };
  let isDirectory: boolean | undefined;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') fail(error);
  }
  if (isDirectory === false) throw new OptibenchError(`cannot write into this folder: ${REASONS.EEXIST}`, { file: absolute, key: flag });
  try {
    await mkdirEach(absolute);
  } catch (error) {
    fail(error);
  }
  // A byte is enough: a full file system cannot give it a block.
  const probe = path.join(absolute, `.optibench-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, 'x');
  } catch (error) {
    await rm(probe, { force: true });
    fail(error);
  }
  await rm(probe, { force: true });
  return absolute;
}

/** For a flag naming a file (`tokenizer convert -o tokenizer.json`): its folder must be writable. */
export async function ensureWritableFileDir(file: string, flag: string): Promise<string> {
  const absolute = path.resolve(file);
  refuseKernelPath(absolute, flag);
  let isDirectory = false;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch {
    // Missing (it will be created) or unreadable (the folder check below says why).
  }
  if (isDirectory) throw new OptibenchError('this is a folder: give the name of the file to write', { file: absolute, key: flag });
  await ensureWritableDir(path.dirname(absolute), flag);
  return absolute;
}
