/**
 * Whose submission this is. The organizer says so (`rerun --team`, `evaluate --team`), from how the submission
 * arrived; a manifest is the team's own writing and only has to agree. The id must be registered in the results
 * database: the board shows the registration's name and members, never what a manifest says.
 */
import { OptibenchError } from '../core/errors.js';
import type { RegisteredTeam, ResultsStore } from '../core/store.js';
import { isRegistrationId, REGISTRATION_ID_HINT } from '../core/team.js';

/** The registration of `teamId`, or an error saying why the submission is refused (nothing is recorded). */
export function registeredTeam(store: ResultsStore, teamId: string): RegisteredTeam {
  if (!isRegistrationId(teamId)) throw new OptibenchError(`"${teamId}" is not a team id: expected ${REGISTRATION_ID_HINT}`, { key: '--team' });
  const team = store.teamByRegistration(teamId);
  if (!team) {
    throw new OptibenchError(
      `no team ${teamId} is registered in this results database: register the team first (optibench team register --db ${store.location} --name "<team name>" --member "Name <email>") and use the id it prints`,
      { file: store.location, key: '--team' },
    );
  }
  return team;
}

/**
 * The registration of the team the organizer received the submission from, once the manifest agrees: a manifest
 * naming another team (registered or not) is refused, whatever the database holds.
 */
export function submittingTeam(store: ResultsStore, manifestTeam: string, organizerTeam: string): RegisteredTeam {
  const team = registeredTeam(store, organizerTeam);
  if (manifestTeam !== organizerTeam) {
    throw new OptibenchError(
      `the manifest names team ${manifestTeam}, but this submission was received from ${organizerTeam} (${team.name}): a team submits only under its own id; nothing was run or recorded`,
      { key: 'team' },
    );
  }
  return team;
}
