/**
 * The submission manifest: `optibench-submission.yaml` (or `.json`) at the root of a team's repository. It
 * names the team, the commit to re-run, the optimizations document and what to run: an optibench config
 * (served by the organizer's optibench, the repository's plugins loaded by file path) or a command (a team's
 * own program). Either way the submission runs as a system under test: it answers the organizer's requests
 * over the SUT protocol (src/evaluators/inference/sut/PROTOCOL.md) and the organizer keeps the clock.
 */
import { z } from 'zod';

export const SUBMISSION_SCHEMA_ID = 'optibench/submission';
export const SUBMISSION_VERSION = 1;
export const MANIFEST_NAMES = ['optibench-submission.yaml', 'optibench-submission.yml', 'optibench-submission.json'] as const;
export const DOCUMENT_EXTENSIONS = ['.pdf', '.doc', '.docx'] as const;

const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), { message: 'expected a path inside the repository (relative, no "..")' });

const memberSchema = z.strictObject({
  name: z.string().trim().min(1).describe('Full name'),
  email: z.email().optional().describe('Contact address'),
});

const runSchema = z.union([
  z.strictObject({
    config: relativePath.describe('An optibench config file in the repository, served by the organizer\'s optibench (optibench serve) as a system under test; plugins named by path load from the repository'),
  }),
  z.strictObject({
    command: z.array(z.string().min(1)).min(1).describe('A command (argv) run from the repository root: a system under test that answers the organizer\'s requests over the SUT protocol on stdin/stdout (optibench sut init writes a Python template); the model is in $OPTIBENCH_MODEL'),
  }),
]);

export const submissionSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors'),
    schema: z.literal(SUBMISSION_SCHEMA_ID).describe('Always "optibench/submission"'),
    version: z.literal(SUBMISSION_VERSION).describe('Manifest format version'),
    team: z.string().trim().min(1).max(80).describe('Team name, as shown on the leaderboard'),
    members: z.array(memberSchema).min(1, 'a team has 1 to 3 members').max(3, 'a team has 1 to 3 members'),
    repository: z.strictObject({
      url: z.string().min(1).describe('Where the organizer clones the repository from (URL or path)'),
      commit: z.string().regex(/^[0-9a-f]{40}$/, 'expected the full 40-character commit hash (lower case)').describe('The commit to re-run'),
    }),
    document: relativePath
      .refine((p) => DOCUMENT_EXTENSIONS.some((ext) => p.toLowerCase().endsWith(ext)), { message: `expected a ${DOCUMENT_EXTENSIONS.join(', ')} file` })
      .describe('The document describing the optimizations (pdf, doc or docx), in the repository'),
    round: z.number().int().min(1).max(2).default(1).describe('Competition round (1 or 2)'),
    run: runSchema.describe('What the organizer runs: exactly one of config or command'),
  })
  .describe('optibench submission manifest');

export type SubmissionManifest = z.infer<typeof submissionSchema>;

export function submissionJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(submissionSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
