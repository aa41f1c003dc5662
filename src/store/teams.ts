/**
 * Teams and their submissions in the results database. A team is identified by its name; submitting again
 * adds a submission row (the last one to an evaluator, by `submitted_at`, then `id`, is the one that counts).
 */
import { OptibenchError } from '../core/errors.js';
import type { NewSubmission, NewTeam } from '../core/store.js';
import type { StoreDatabase } from './schema.js';

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

/** Adds a submission for an existing team; returns its id. */
export function addSubmission(db: StoreDatabase, submission: NewSubmission): number {
  try {
    const row = db
      .prepare(
        `INSERT INTO submissions (team_id, evaluator, round, repository, commit_sha, document, manifest, submitted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      )
      .get(
        submission.teamId,
        submission.evaluator,
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

/** The latest submission with these facts, if the team made it already. */
export function findSubmission(db: StoreDatabase, query: { teamId: number; evaluator: string; repository: string; commitSha: string; round: number }): number | undefined {
  const row = db
    .prepare('SELECT id FROM submissions WHERE team_id = ? AND evaluator = ? AND repository = ? AND commit_sha = ? AND round = ? ORDER BY id DESC LIMIT 1')
    .get(query.teamId, query.evaluator, query.repository, query.commitSha, query.round) as { id: number } | undefined;
  return row?.id;
}
