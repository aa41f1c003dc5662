/**
 * The submission manifest: `optibench-submission.yaml` (or `.json`) at the root of a team's repository. It
 * names the team by the registration id the organizer issued, the commit to re-run, the optimizations document
 * and what to run: an optibench config (served by the organizer's optibench, the repository's plugins loaded by
 * file path) or a command (a team's own program). Either way the submission runs as a system under test: it
 * answers the organizer's requests over the SUT protocol (src/evaluators/inference/sut/PROTOCOL.md) and the
 * organizer keeps the clock.
 *
 * Version 1 named the team by free text and listed its members: any repository could speak for any team. It is
 * refused with what changed (`versionProblem`), never read.
 */
import { z } from 'zod';
import { REGISTER_HINT, REGISTRATION_ID, REGISTRATION_ID_HINT } from '../core/team.js';

export const SUBMISSION_SCHEMA_ID = 'optibench/submission';
export const SUBMISSION_VERSION = 2;
export const MANIFEST_NAMES = ['optibench-submission.yaml', 'optibench-submission.yml', 'optibench-submission.json'] as const;
export const DOCUMENT_EXTENSIONS = ['.pdf', '.doc', '.docx'] as const;

const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), { message: 'expected a path inside the repository (relative, no "..")' });

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
    team: z
      .string()
      .regex(REGISTRATION_ID, `expected ${REGISTRATION_ID_HINT}, not a team name; ${REGISTER_HINT}`)
      .describe("The team's registration id (team-xxxxxxxx), issued by the organizer with optibench team register; the name and members shown on the leaderboard are the registration's"),
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

/**
 * A manifest of another version, said in one problem rather than as every key the current schema would refuse:
 * version 1 is told what changed and how to get an id.
 */
export function versionProblem(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || !('version' in data)) return undefined;
  const version = (data as { version: unknown }).version;
  if (version === 1) {
    return (
      `version 1 manifests are no longer accepted: in version ${SUBMISSION_VERSION}, "team" is the registration id the organizer issued (team-xxxxxxxx) ` +
      `instead of the team's name, and "members" is gone (the registration holds them); ${REGISTER_HINT}, then write version: ${SUBMISSION_VERSION} and team: <the id>`
    );
  }
  return undefined;
}

export function submissionJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(submissionSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
