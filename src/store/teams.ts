/**
 * Teams and their submissions in the results database. A team is identified by its name; submitting again
 * adds a submission row (the last one by `submitted_at`, then `id`, is the one that counts).
 */
import { OptibenchError } from '../core/errors.js';
import type { StoreDatabase } from './schema.js';

export interface NewTeam {
  readonly name: string;
  readonly members: readonly { readonly name: string; readonly email?: string }[];
}

/** Creates the team, or updates its members if the name exists; returns its id. */
export function upsertTeam(db: StoreDatabase, team: NewTeam): number {
  if (team.name.trim() === '') throw new OptibenchError('a team needs a non-empty name');
  const row = db
    .prepare(
      `INSERT INTO teams (name, members, created_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET members = excluded.members
       RETURNING id`,
    )
    .get(team.name, JSON.stringify(team.members), new Date().toISOString()) as { id: number };
  return row.id;
}

export interface NewSubmission {
  readonly teamId: number;
  readonly round?: number;
  readonly repository: string;
  readonly commitSha: string;
  /** Path of the optimizations document inside the repository. */
  readonly document?: string | null;
  /** The validated submission manifest. */
  readonly manifest: object;
  readonly submittedAt?: Date;
}

/** Adds a submission for an existing team; returns its id. */
export function addSubmission(db: StoreDatabase, submission: NewSubmission): number {
  try {
    const row = db
      .prepare(
        `INSERT INTO submissions (team_id, round, repository, commit_sha, document, manifest, submitted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      )
      .get(
        submission.teamId,
        submission.round ?? 1,
        submission.repository,
        submission.commitSha,
        submission.document ?? null,
        JSON.stringify(submission.manifest),
        (submission.submittedAt ?? new Date()).toISOString(),
      ) as { id: number };
    return row.id;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      throw new OptibenchError(`cannot add a submission for team id ${submission.teamId}: no such team`, { file: db.name });
    }
    throw error;
  }
}
