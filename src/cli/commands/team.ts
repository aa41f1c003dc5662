/**
 * `optibench team register | list | update`: the organizer's registry of teams in the results database. A team
 * is its registration; the id printed by `register` is what the team writes in its manifest and what the
 * organizer gives `rerun --team` and `evaluate --team`.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { collect } from '../../core/cli/options.js';
import { displayPath } from '../../core/cli/terminal.js';
import { OptibenchError } from '../../core/errors.js';
import { evaluatorTables, type AnyEvaluator } from '../../core/evaluator.js';
import { MAX_MEMBERS, parseMember, type RegisteredTeam, type TeamMember } from '../../core/team.js';
import { openStore, type SqliteStore } from '../../store/sqlite-store.js';

interface TeamFlags {
  db: string;
  name?: string;
  member?: string[];
  json?: boolean;
}

function members(texts: readonly string[]): TeamMember[] {
  return texts.map((text) => {
    try {
      return parseMember(text);
    } catch (error) {
      if (error instanceof OptibenchError) throw new OptibenchError(error.message, { key: '--member' });
      throw error;
    }
  });
}

const memberText = (m: TeamMember) => (m.email ? `${m.name} <${m.email}>` : m.name);

/** One line per team, the name padded so the members line up; the registration date is the UTC day. */
function table(teams: readonly RegisteredTeam[]): string {
  const width = Math.max(4, ...teams.map((t) => t.name.length));
  const lines = [`${'id'.padEnd(13)}  registered  ${'name'.padEnd(width)}  members`];
  for (const t of teams) lines.push(`${t.registrationId.padEnd(13)}  ${t.registeredAt.slice(0, 10)}  ${t.name.padEnd(width)}  ${t.members.map(memberText).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function withStore<T>(file: string, evaluators: readonly AnyEvaluator[], options: { mustExist: boolean }, fn: (store: SqliteStore) => T): T {
  // Opening would create a missing file: a typo in --db must not look like a database without teams.
  if (options.mustExist && !existsSync(file)) throw new OptibenchError('results database not found', { file });
  const store = openStore(file, { evaluators: evaluatorTables(evaluators) });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

export function registerTeamCommand(program: Command, evaluators: readonly AnyEvaluator[]): void {
  const team = program
    .command('team')
    .description("The organizer's registry of teams in the results database: a team is its registration, and its id is what manifests and --team name");

  team
    .command('register')
    .description(`Register a team (1 to ${MAX_MEMBERS} members) and print the id issued to it`)
    .requiredOption('--db <file>', 'the results database (created if missing)')
    .requiredOption('--name <name>', 'the team name shown on the leaderboard (unique)')
    .option('--member <"Name <email>">', `a member, "Name" or "Name <email>" (repeat: 1 to ${MAX_MEMBERS})`, collect)
    .addHelpText(
      'after',
      '\nPrints the id (team-xxxxxxxx) on stdout: give it to the team, which writes it as "team" in its optibench-submission.yaml.\n' +
        'Exit codes: 0 registered, 1 bad input (a name already registered, a bad member), 2 usage.\n' +
        '\nExample:\n  optibench team register --db results.db --name "Fast Llamas" --member "Ada Lovelace <ada@example.org>" --member "Alan Turing"\n',
    )
    .action((flags: TeamFlags) => {
      if (!flags.member?.length) throw new OptibenchError(`a team has 1 to ${MAX_MEMBERS} members: give each with --member "Name <email>"`, { key: '--member' });
      const registered = withStore(flags.db, evaluators, { mustExist: false }, (store) => store.registerTeam({ name: flags.name!, members: members(flags.member!) }));
      process.stderr.write(`optibench: registered "${registered.name}" (${registered.members.map(memberText).join(', ')}) in ${displayPath(flags.db)}\n`);
      process.stdout.write(`${registered.registrationId}\n`);
    });

  team
    .command('list')
    .description('List the registered teams: id, registration date, name and members')
    .requiredOption('--db <file>', 'the results database')
    .option('--json', 'a JSON array of { id, name, members, registeredAt } instead of the table')
    .addHelpText('after', '\nExit codes: 0 listed (also when none is registered yet), 1 bad input (no such database), 2 usage.\n')
    .action((flags: TeamFlags) => {
      // Not read-only: a file from before registrations gets its ids now, once, on disk. Upgraded in memory
      // only, each listing would show new ids that no later command knows.
      const teams = withStore(flags.db, evaluators, { mustExist: true }, (store) => store.listTeams());
      if (flags.json) {
        const rows = teams.map((t) => ({ id: t.registrationId, name: t.name, members: t.members, registeredAt: t.registeredAt }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else if (teams.length === 0) {
        process.stderr.write(`optibench: no team is registered in ${displayPath(flags.db)} yet (optibench team register)\n`);
      } else {
        process.stdout.write(table(teams));
      }
    });

  team
    .command('update')
    .description("The organizer's edit of a registration: a new name, or a new member list (replacing the old one); the id stays")
    .argument('<id>', 'the team id (team-xxxxxxxx)')
    .requiredOption('--db <file>', 'the results database')
    .option('--name <name>', 'the new team name (unique)')
    .option('--member <"Name <email>">', `the new members, "Name" or "Name <email>" (repeat: 1 to ${MAX_MEMBERS}; replaces them all)`, collect)
    .addHelpText(
      'after',
      '\nExit codes: 0 updated, 1 bad input (no such team, a name already registered, a bad member), 2 usage.\n' +
        '\nExample:\n  optibench team update team-abcd2345 --db results.db --member "Ada Lovelace <ada@example.org>" --member "Grace Hopper"\n',
    )
    .action((id: string, flags: TeamFlags) => {
      if (flags.name === undefined && flags.member === undefined) throw new OptibenchError('nothing to change: give --name, --member or both', { key: id });
      const changes = { ...(flags.name !== undefined ? { name: flags.name } : {}), ...(flags.member ? { members: members(flags.member) } : {}) };
      const updated = withStore(flags.db, evaluators, { mustExist: true }, (store) => store.updateTeam(id, changes));
      process.stdout.write(table([updated]));
    });
}
