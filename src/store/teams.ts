/**
 * Teams and their submissions in the results database. A team is its registration: the organizer registers it
 * and the store issues its id (`core/team.ts`); submissions name the team's row. Submitting again adds a
 * submission row (the last one to an evaluator, by `submitted_at`, then `id`, is the one that counts).
 */
import { OptibenchError } from '../core/errors.js';
import type { NewSubmission } from '../core/store.js';
import { checkedTeam, newRegistrationId, REGISTRATION_ID_HINT, isRegistrationId, sameTeamName, type NewTeam, type RegisteredTeam, type TeamChanges, type TeamMember } from '../core/team.js';
import type { StoreDatabase } from './schema.js';

interface TeamRow {
  id: number;
  registration_id: string;
  name: string;
  members: string;
  created_at: string;
}

function registeredTeam(db: StoreDatabase, row: TeamRow): RegisteredTeam {
  let members: TeamMember[];
  try {
    members = JSON.parse(row.members) as TeamMember[];
  } catch {
    throw new OptibenchError(`team ${row.registration_id}: column members does not hold valid JSON`, { file: db.name });
  }
  return { rowId: row.id, registrationId: row.registration_id, name: row.name, members, registeredAt: row.created_at };
}

/** Refuses a name another registration holds, case and spacing aside: two teams must not look alike on the board. */
function refuseTakenName(db: StoreDatabase, name: string, except: number | null): void {
  const rows = db.prepare('SELECT id, registration_id, name FROM teams').all() as Pick<TeamRow, 'id' | 'registration_id' | 'name'>[];
  const taken = rows.find((r) => r.id !== except && sameTeamName(r.name, name));
  if (taken) throw new OptibenchError(`a team named "${taken.name}" is already registered (${taken.registration_id}): team names are unique`, { file: db.name });
}

/** Registers the team with a new id, in one transaction; returns the registration. */
export function registerTeam(db: StoreDatabase, team: NewTeam): RegisteredTeam {
  const { name, members } = checkedTeam(team);
  return db.transaction(() => {
    refuseTakenName(db, name, null);
    const insert = db.prepare('INSERT INTO teams (registration_id, name, members, created_at) VALUES (?, ?, ?, ?) RETURNING *');
    // An id is never issued twice: a collision (one in a trillion per pair) draws again.
    for (;;) {
      const id = newRegistrationId();
      if (db.prepare('SELECT 1 FROM teams WHERE registration_id = ?').get(id) !== undefined) continue;
      return registeredTeam(db, insert.get(id, name, JSON.stringify(members), new Date().toISOString()) as TeamRow);
    }
  }).immediate();
}

export function teamByRegistration(db: StoreDatabase, registrationId: string): RegisteredTeam | undefined {
  const row = db.prepare('SELECT * FROM teams WHERE registration_id = ?').get(registrationId) as TeamRow | undefined;
  return row ? registeredTeam(db, row) : undefined;
}

export function listTeams(db: StoreDatabase): RegisteredTeam[] {
  return (db.prepare('SELECT * FROM teams ORDER BY created_at, id').all() as TeamRow[]).map((row) => registeredTeam(db, row));
}

/** The organizer's edit: a new name (still unique) or a new member list, in one transaction. */
export function updateTeam(db: StoreDatabase, registrationId: string, changes: TeamChanges): RegisteredTeam {
  if (!isRegistrationId(registrationId)) throw new OptibenchError(`"${registrationId}" is not a team id: expected ${REGISTRATION_ID_HINT}`);
  return db.transaction(() => {
    const before = teamByRegistration(db, registrationId);
    if (!before) throw new OptibenchError(`no team ${registrationId} is registered (optibench team list shows those that are)`, { file: db.name });
    const { name, members } = checkedTeam({ name: changes.name ?? before.name, members: changes.members ?? before.members });
    if (name !== before.name) refuseTakenName(db, name, before.rowId);
    db.prepare('UPDATE teams SET name = ?, members = ? WHERE id = ?').run(name, JSON.stringify(members), before.rowId);
    return teamByRegistration(db, registrationId)!;
  }).immediate();
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
