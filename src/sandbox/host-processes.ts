/**
 * The sandbox's processes as the host sees them. Every sandbox runs as its own otherwise unused uid, so
 * "tasks owned by that uid" is exactly the sandbox's process tree, however it forked.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';

/** Pids (in the host's /proc) of processes owned by `uid`. */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (statSync(`/proc/${entry}`).uid === uid) pids.push(Number(entry));
    } catch {
      // The process exited between readdir and stat.
    }
  }
  return pids;
}

/** Threads of those processes: what RLIMIT_NPROC counts on Linux. */
export function tasksOf(uid: number): number {
  let tasks = 0;
  for (const pid of processesOf(uid)) {
    try {
      tasks += readdirSync(`/proc/${pid}/task`).length;
    } catch {
      // Exited meanwhile.
    }
  }
  return tasks;
}

/** The kernel reports CPU time in /proc in units of USER_HZ, which is 100 on every Linux ABI. */
const USER_HZ = 100;

/** The most CPU time (user + system, in seconds) any one process of `uid` has used so far. */
export function peakCpuSecondsOf(uid: number): number {
  let peak = 0;
  for (const pid of processesOf(uid)) {
    try {
      // Fields after the command name (which may hold spaces and parentheses): utime and stime are 14 and 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      peak = Math.max(peak, (Number(fields[11]) + Number(fields[12])) / USER_HZ);
    } catch {
      // Exited meanwhile.
    }
  }
  return peak;
}

/** An uid in a range no distribution hands out, that no process uses now. */
export function pickSandboxUid(random: () => number = Math.random): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const uid = 1_500_000 + Math.floor(random() * 500_000);
    if (processesOf(uid).length === 0) return uid;
  }
  throw new Error('no unused uid found for the sandbox');
}

/** SIGKILL to every process of the uid, until none is left or the deadline passes; true when none is left. */
export async function killAllOf(uid: number, deadlineMs = 5000): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const pids = processesOf(uid);
    if (pids.length === 0) return true;
    if (Date.now() > until) return false;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
