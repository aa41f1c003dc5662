/**
 * The reference is only as good as its own check: run its self-test (a numpy re-derivation with explicit
 * loops, closed-form cases, and error exits) so a broken reference cannot silently bless a broken backend.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPython } from '../helpers/python.js';
import { REPO_ROOT } from '../helpers/shared.js';

describe('the PyTorch reference forward', () => {
  it('passes its self-test against an independent numpy implementation', () => {
    const out = runPython([path.join(REPO_ROOT, 'test/reference/selftest_llama_reference.py')]);
    expect(out).toContain('selftest_llama_reference: all checks passed');
  }, 300_000);
});
