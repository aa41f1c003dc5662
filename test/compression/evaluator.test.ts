/**
 * The compression evaluator end to end, as root with the real bubblewrap and a real SQLite results database:
 * solutions written here (an identity in python with numpy over the cli protocol, a zlib server over http, a lossy
 * one that halves every value) and the hostile fixtures of test/compression/fixtures, scored on two samples built
 * here with npy.ts. Expected figures are worked out by hand in the comments; sizes of zlib output come from
 * Python's zlib (an independent reference), times from what the run recorded.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy, float32ToBf16 } from '../../src/evaluators/compression/npy.js';
import { writeManifestCsv } from '../../src/evaluators/compression/sample-manifest.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { sqlite3, TSX_LOADER } from '../store/helpers.js';
import { registerTeam } from '../submissions/git-repo.js';

const FIXTURES = path.join(REPO_ROOT, 'test/compression/fixtures');
const manifest = (name: string, protocol: string, command: string[]) => `schema: optibench/compression-solution\nversion: 1\nname: ${name}\nprotocol: ${protocol}\ncommand: ${JSON.stringify(command)}\n`;

const IDENTITY_CLI = `import base64, io, json, sys
import numpy as np
job = json.load(open(sys.argv[sys.argv.index("--input-file") + 1]))
key = "data_to_compress_base64" if "--compress" in sys.argv else "data_to_decompress_base64"
a = np.load(io.BytesIO(base64.b64decode(job[key])))
assert a.dtype == np.uint16
np.save(job["expected_output_filepath"] + ".npy", a)  # np.save adds .npy
import os; os.rename(job["expected_output_filepath"] + ".npy", job["expected_output_filepath"])
`;

/** Every value halved (exact in bfloat16 for these normal values); decompression is the identity. */
const HALVE_CLI = `import base64, io, json, os, sys
import numpy as np
job = json.load(open(sys.argv[sys.argv.index("--input-file") + 1]))
out = job["expected_output_filepath"]
if "--compress" in sys.argv:
    a = np.load(io.BytesIO(base64.b64decode(job["data_to_compress_base64"])))
    f = (a.astype(np.uint32) << 16).view(np.float32) / np.float32(2)
    a = (f.view(np.uint32) >> 16).astype(np.uint16)
else:
    a = np.load(io.BytesIO(base64.b64decode(job["data_to_decompress_base64"])))
np.save(out + ".npy", a)
os.rename(out + ".npy", out)
`;

const MULTIPART = `def fields(body, ctype):
    boundary = ctype.split("boundary=")[1].encode()
    out = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, data = part[2:].partition(b"\\r\\n\\r\\n")
        out[head.split(b'name="')[1].split(b'"')[0].decode()] = data[:-2]
    return out
`;

const ZLIB_HTTP = `import http.server, sys, zlib
${MULTIPART}
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def do_POST(self):
        f = fields(self.rfile.read(int(self.headers["Content-Length"])), self.headers["Content-Type"])
        data = zlib.compress(f["file"], 9) if self.path == "/compress" else zlib.decompress(f["file"])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
`;

/** The identity for the first sample; on the second it never answers (an organizer Ctrl-C's the round then). */
const SLOW_SECOND_CLI = IDENTITY_CLI.replace('import numpy as np', 'import numpy as np, time\nif "--compress" in sys.argv and os.path.getsize(sys.argv[sys.argv.index("--input-file") + 1]) > 1000:\n    time.sleep(3600)').replace('import base64, io, json, sys', 'import base64, io, json, os, sys');

const HOSTILE = ['keep-original', 'wrong-bytes', 'hang', 'socket-out', 'crash', 'write-4gb'] as const;
const WALL = 4;

let work: string;
let db: string;
const teams: Record<string, string> = {};
let listener: net.Server;
let connections = 0;

function optibench(args: readonly string[]) {
  const result = spawnSync(process.execPath, [`--import=${TSX_LOADER}`, path.join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: work, encoding: 'utf8', timeout: 240_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Row {
  item_index: number;
  compressed_bytes: number | null;
  compress_seconds: number | null;
  decompress_seconds: number | null;
  compress_server_start_seconds: number | null;
  ratio: number | null;
  similarity: number | null;
  bit_exact: number;
  raw: number;
  normalized: number;
  entropy_bits_per_value: number;
  failure: string | null;
}
const rowsOf = (runId: string) => sqlite3<Row>(db, `SELECT * FROM compression_samples WHERE run_id = '${runId}' ORDER BY item_index`);
const runIdOf = (stdout: string) => /^optibench (?:compression run|evaluate compression) (\S+):/m.exec(stdout)![1]!;
const pythonZlibLength = (hex: string) => Number(spawnSync('/usr/bin/python3', ['-c', `import zlib;print(len(zlib.compress(bytes.fromhex("${hex}"), 9)))`], { encoding: 'utf8' }).stdout.trim());

// s0: 6 values, 12 bytes; s1: 64 x 64 zeros, 8192 bytes. np.save's header for both shapes is 128 bytes
// (magic, version and length are 10 bytes, the dict about 60, padded to a multiple of 64), so an .npy is 140 and 8320 bytes.
const S0 = [1, -2, 0.5, 3, 0, 4];
const S0_BITS = float32ToBf16(new Float32Array(S0));

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-compression-test-'));
  db = path.join(work, 'results.db');
  await mkdir(path.join(work, 'samples'));
  const s0 = encodeNpy({ shape: [2, 3], bits: S0_BITS });
  const s1 = encodeNpy({ shape: [64, 64], bits: new Uint16Array(4096) });
  await writeFile(path.join(work, 'samples', 's0.npy'), s0);
  await writeFile(path.join(work, 'samples', 's1.npy'), s1);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  await writeFile(
    path.join(work, 'samples', 'manifest.csv'),
    writeManifestCsv([
      { file: 's0.npy', kind: 'forward', shape: [2, 3], dtype: 'bfloat16', layer: 0, source: 'hidden_state', sha256: sha(s0) },
      { file: 's1.npy', kind: 'backward', shape: [64, 64], dtype: 'bfloat16', layer: 1, source: 'bottleneck', sha256: sha(s1) },
    ]),
  );
  await writeFile(path.join(work, 'compression.yaml'), `version: 1\nsamples: samples\nlimits:\n  wallSeconds: ${WALL}\noutputDir: reports\n`);
  const solution = async (name: string, protocol: string, file: string, text: string | null, from?: string) => {
    const dir = path.join(work, 'solutions', name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'optibench-solution.yaml'), manifest(name, protocol, ['python3', file]));
    if (text !== null) await writeFile(path.join(dir, file), text);
    else await copyFile(from!, path.join(dir, file));
  };
  await solution('identity-cli', 'cli', 'solution.py', IDENTITY_CLI);
  await solution('halve-cli', 'cli', 'solution.py', HALVE_CLI);
  await solution('zlib-http', 'http', 'server.py', ZLIB_HTTP);
  await solution('slow-second', 'cli', 'solution.py', SLOW_SECOND_CLI);
  for (const name of HOSTILE) await solution(name, 'cli', `${name}.py`, null, path.join(FIXTURES, `${name}.py`));

  listener = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  const hostAddresses = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address));
  await writeFile(path.join(work, 'solutions', 'socket-out', 'host-port.txt'), `${port} ${hostAddresses.join(' ')}\n`);

  for (const name of ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo', ...HOSTILE]) teams[name] = registerTeam(db, name, [{ name: `${name} Member` }]);
}, 60_000);

afterAll(() => listener?.close());

const expectedRaw = (r: Row, similarity: number, ratio: number) => 30 - (r.compress_seconds! + r.decompress_seconds!) + 1000 * similarity + 1_000_000 * ratio;

describe('the compression evaluator, for real', () => {
  let baselineRaw: number;
  let alphaRun: string;
  let alphaRaw: number;

  it('records a baseline: an identity over the cli protocol round-trips both samples bit-exactly', () => {
    const { code, stdout, stderr } = optibench(['compression', 'run', 'solutions/identity-cli', '-c', 'compression.yaml', '--db', 'results.db', '--as-baseline']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const runId = runIdOf(stdout);
    const rows = rowsOf(runId);
    expect(rows.map((r) => [r.compressed_bytes, r.bit_exact, r.similarity, r.failure])).toEqual([
      [140, 1, 1, null],
      [8320, 1, 1, null],
    ]);
    // ratios 12 / 140 and 8192 / 8320
    expect(rows[0]!.ratio).toBeCloseTo(12 / 140, 15);
    expect(rows[1]!.ratio).toBeCloseTo(8192 / 8320, 15);
    // s0's six values are distinct: log2(6) = 2.584962500721156 bits; s1 is constant: 0 bits
    expect(rows[0]!.entropy_bits_per_value).toBeCloseTo(Math.log2(6), 12);
    expect(rows[1]!.entropy_bits_per_value).toBe(0);
    for (const [i, r] of rows.entries()) expect(r.raw).toBeCloseTo(expectedRaw(r, 1, [12 / 140, 8192 / 8320][i]!), 6);
    baselineRaw = (rows[0]!.raw + rows[1]!.raw) / 2;
    const [run] = sqlite3<{ kind: string; status: string; score: number }>(db, `SELECT kind, status, score FROM runs WHERE id = '${runId}'`);
    expect(run!.kind).toBe('baseline');
    expect(run!.status).toBe('complete');
    expect(run!.score).toBeCloseTo(baselineRaw, 6);
  });

  it('a zlib server over http (both phases in their own sandboxes) takes the top: 1% above the baseline', () => {
    const { code, stdout, stderr } = optibench(['compression', 'run', 'solutions/zlib-http', '-c', 'compression.yaml', '--db', 'results.db', '--team', teams.Alpha!]);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    alphaRun = runIdOf(stdout);
    const rows = rowsOf(alphaRun);
    const s0Hex = Buffer.from(S0_BITS.buffer).toString('hex');
    const zlibS0 = pythonZlibLength(s0Hex);
    const zlibS1 = pythonZlibLength('00'.repeat(8192));
    expect(rows.map((r) => [r.compressed_bytes, r.bit_exact, r.failure])).toEqual([
      [zlibS0, 1, null],
      [zlibS1, 1, null],
    ]);
    for (const r of rows) expect(r.compress_server_start_seconds).toBeGreaterThan(0);
    expect(rows[1]!.raw).toBeCloseTo(expectedRaw(rows[1]!, 1, 8192 / zlibS1), 6);
    alphaRaw = (rows[0]!.raw + rows[1]!.raw) / 2;
    expect(stdout).toContain(`score_to_beat  ${Number((baselineRaw * 1.01).toPrecision(10))}`);
    expect(stdout).toMatch(/verdict +PASS: raw score \S+ against score_to_beat \S+ \(1% above the baseline's/);
  });

  it("a lossy solution through optibench evaluate: similarity 0.5 where values were halved, 1 for the all-zero sample, and below score_to_beat (exit 5)", () => {
    const { code, stdout, stderr } = optibench(['evaluate', 'compression', 'solutions/halve-cli', '-c', 'compression.yaml', '--db', 'results.db', '--team', teams.Bravo!]);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(5);
    const rows = rowsOf(runIdOf(stdout));
    // b = a / 2: cosine 1, norm_similarity 1 - ||a/2|| / ||a|| = 0.5; s1: both norms 0, similarity 1
    expect(rows[0]!.similarity).toBeCloseTo(0.5, 12);
    expect(rows[1]!.similarity).toBe(1);
    expect(rows.map((r) => r.bit_exact)).toEqual([0, 1]);
    expect(rows[0]!.raw).toBeCloseTo(expectedRaw(rows[0]!, 0.5, 12 / 140), 6);
    expect(stdout).toMatch(/verdict +FAIL .*FAIL: raw score/);
    // optibench evaluate applies the same challenge rule as compression run: Alpha holds the top now.
    expect(stdout).toMatch(/score_to_beat \S+ \(1% above the current top's \S+ \(Alpha, run /);
  });

  it('a newcomer must beat the current top by 1%: the same zlib solution for another team fails', () => {
    const { code, stdout } = optibench(['compression', 'run', 'solutions/zlib-http', '-c', 'compression.yaml', '--db', 'results.db', '--team', teams.Charlie!]);
    expect(code).toBe(5);
    expect(stdout).toMatch(/verdict +FAIL: raw score \S+ against score_to_beat \S+ \(1% above the current top's \S+ \(Alpha, run /);
  });

  it("the lossless profile: clip((1 - c)(1 - t / 1.012), 0, 1), 0 where zlib's output is larger than the sample", async () => {
    const { code, stdout, stderr } = optibench(['compression', 'run', 'solutions/zlib-http', '--samples', 'samples', '--profile', 'lossless', '-o', 'lossless']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const file = path.join(work, /^ {2}results +(\S+)$/m.exec(stdout)![1]!);
    const result = JSON.parse(await readFile(file, 'utf8')) as { payload: { items: { compressedBytes: number; compressSeconds: number; decompressSeconds: number; raw: number; normalized: number }[]; round: { raw: number } } };
    const [s0, s1] = result.payload.items;
    expect(s0!.raw).toBe(0); // c = zlib(12 bytes) / 12 > 1
    const c = s1!.compressedBytes / 8192;
    const t = s1!.compressSeconds + s1!.decompressSeconds;
    expect(s1!.raw).toBeCloseTo((1 - c) * (1 - t / 1.012), 12);
    expect(s1!.normalized).toBe(s1!.raw);
    expect(result.payload.round.raw).toBeCloseTo(s1!.raw / 2, 12);
  });

  const reasons: Record<(typeof HOSTILE)[number], RegExp> = {
    'keep-original': /^decompress: exited with code 1.*the stashed original is gone/,
    'wrong-bytes': /^decompress: the output is not the sample's \.npy: .*data bytes for shape/,
    hang: new RegExp(`^compress: timeout: still running after the ${WALL} s wall-time limit`),
    'socket-out': /^compress: (denied network|exited with code 1)/,
    crash: /^compress: killed by SIGSEGV/,
    // RLIMIT_FSIZE: SIGXFSZ kills a plain writer; Python ignores SIGXFSZ, so its write fails with EFBIG instead.
    'write-4gb': /^compress: (disk limit: a file reached the .* file-size limit|exited with code 1: "OSError: \[Errno 27\] File too large")/,
  };
  for (const name of HOSTILE) {
    it(`hostile: ${name} scores 0 on every sample with the reason shown; the run is recorded, below score_to_beat`, () => {
      const { code, stdout, stderr } = optibench(['compression', 'run', `solutions/${name}`, '-c', 'compression.yaml', '--db', 'results.db', '--team', teams[name]!]);
      expect(code).toBe(5);
      const runId = runIdOf(stdout);
      const rows = rowsOf(runId);
      expect(rows).toHaveLength(2);
      for (const r of rows) {
        expect(r.raw).toBe(0);
        expect(r.failure).toMatch(reasons[name]);
      }
      expect(stderr).toMatch(new RegExp(`s0\\.npy: ${reasons[name].source.slice(1)}`));
      // It did keep the original at compress time (in /tmp, /dev/shm and its HOME, the work dir, at least): one byte each.
      if (name === 'keep-original') for (const r of rows) expect(r.compressed_bytes).toBeGreaterThanOrEqual(3);
      const [run] = sqlite3<{ status: string; score: number }>(db, `SELECT status, score FROM runs WHERE id = '${runId}'`);
      expect(run).toEqual({ status: 'complete', score: 0 });
    }, 120_000);
  }

  it('the socket never reached the host, and nothing of the hostile runs touched the others', async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connections).toBe(0);
    const [alpha] = sqlite3<{ score: number }>(db, `SELECT score FROM runs WHERE id = '${alphaRun}'`);
    expect(alpha!.score).toBeCloseTo(alphaRaw, 9);
    expect(rowsOf(alphaRun).every((r) => r.failure === null && r.bit_exact === 1)).toBe(true);
    expect(sqlite3(db, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    expect(sqlite3(db, "SELECT COUNT(*) AS n FROM runs WHERE evaluator = 'compression' AND status = 'complete'")).toEqual([{ n: 4 + HOSTILE.length }]);
  });

  it('the board ranks by raw score, marks the champion and shows the score to beat; the report has the samples, the entropy bound and the chart', async () => {
    const { code, stderr } = optibench(['leaderboard', '--db', 'results.db', '-o', 'site', '--date', '2026-12-02']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const board = JSON.parse(await readFile(path.join(work, 'site', 'compression', 'board.json'), 'utf8')) as {
      ranked: { team: string; rank: number; score: number; columns: Record<string, unknown> }[];
      rejected: { team: string }[];
    };
    expect(board.ranked.map((r) => [r.team, r.rank])).toEqual([['Alpha', 1]]);
    expect(board.ranked[0]!.columns.champion).toBe('★ champion');
    expect(board.ranked[0]!.columns.score_to_beat).toBeCloseTo(alphaRaw * 1.01, 4);
    expect(board.rejected.map((r) => r.team).sort()).toEqual(['Bravo', 'Charlie', ...HOSTILE].sort());
    const run = sqlite3<{ report_path: string }>(db, `SELECT report_path FROM runs WHERE id = '${alphaRun}'`)[0]!;
    const html = await readFile(run.report_path, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('entropy bound');
    expect(html).toMatch(/PASS: raw score/);
    expect(html).toContain('s1.npy');
  });

  it('the board ranks one profile (its baseline\'s): a lossless run waits with a note and takes no place above the default runs', async () => {
    const { code, stderr } = optibench(['compression', 'run', 'solutions/zlib-http', '-c', 'compression.yaml', '--profile', 'lossless', '--db', 'results.db', '--team', teams.Delta!]);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(optibench(['leaderboard', '--db', 'results.db', '-o', 'site2', '--date', '2026-12-02']).code).toBe(0);
    const board = JSON.parse(await readFile(path.join(work, 'site2', 'compression', 'board.json'), 'utf8')) as {
      ranked: { team: string; rank: number }[];
      pending: { team: string; note: string | null }[];
    };
    expect(board.ranked.map((r) => [r.team, r.rank])).toEqual([['Alpha', 1]]);
    const delta = board.pending.find((r) => r.team === 'Delta');
    expect(delta?.note).toBe("scored with the lossless profile; this board ranks the default profile (its baseline's)");
  });

  it('a round stopped with Ctrl-C keeps the sample it finished (results.incomplete.json and the store) and leaves no sandbox behind', async () => {
    await writeFile(path.join(work, 'long.yaml'), 'version: 1\nsamples: samples\nlimits:\n  wallSeconds: 120\noutputDir: reports\n');
    const child = spawn(process.execPath, [`--import=${TSX_LOADER}`, path.join(REPO_ROOT, 'src/cli/main.ts'), 'compression', 'run', 'solutions/slow-second', '-c', 'long.yaml', '--db', 'results.db', '--team', teams.Echo!], { cwd: work });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const firstDone = new Promise<void>((resolve) =>
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/s0\.npy: ratio /.test(stderr)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await firstDone;
    // s1's compression is now sleeping in its sandbox.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    child.kill('SIGINT');
    expect(await exited).toBe(3);
    const saved = /what it finished is saved in (\S+) \(status: incomplete\)/.exec(stderr)?.[1];
    expect(saved, stderr).toBeDefined();
    const partial = JSON.parse(await readFile(path.resolve(work, saved!), 'utf8')) as { status: string; payload: { items: { file: string; bitExact: boolean }[] } };
    expect(partial.status).toBe('incomplete');
    expect(partial.payload.items.map((i) => [i.file, i.bitExact])).toEqual([['s0.npy', true]]);
    const [run] = sqlite3<{ id: string; status: string }>(db, "SELECT r.id, r.status FROM runs r JOIN submissions s ON s.id = r.submission_id JOIN teams t ON t.id = s.team_id WHERE t.name = 'Echo'");
    expect(run!.status).not.toBe('complete');
    expect(rowsOf(run!.id).map((r) => [r.item_index, r.bit_exact])).toEqual([[0, 1]]);
    // Nothing of the sandbox is left: no process of any sandbox uid runs a solution.py.
    const left = spawnSync('pgrep', ['-f', 'slow-second/solution.py'], { encoding: 'utf8' }).stdout.trim();
    expect(left).toBe('');
    expect(stdout).not.toMatch(/raw score/);
  }, 180_000);
});
