/**
 * A team is its registration: the organizer registers it in the results database and issues it an id
 * (`team-` and 8 lower-case base32 characters). Manifests, `rerun --team` and `evaluate --team` name that id,
 * never a free-text name, so nothing a team writes can claim another team's name, members or standing. The
 * name and the members live in the registration and only the organizer edits them.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { OptibenchError } from './errors.js';

/** RFC 4648 base32 in lower case: no 0/1/8/9, so an id read aloud or copied by hand is not misread as o/l/b/g. */
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
export const REGISTRATION_ID = /^team-[a-z2-7]{8}$/;
export const REGISTRATION_ID_HINT = 'the registration id the organizer issued (team- and 8 characters a-z, 2-7)';
export const REGISTER_HINT = 'ask the organizer to register your team: optibench team register --db <file> --name "<team name>" --member "Name <email>"';

export const MAX_TEAM_NAME = 80;
export const MAX_MEMBERS = 3;

export interface TeamMember {
  readonly name: string;
  readonly email?: string;
}

export interface NewTeam {
  readonly name: string;
  readonly members: readonly TeamMember[];
}

export interface RegisteredTeam extends NewTeam {
  /** The row id other tables refer to; never shown to teams. */
  readonly rowId: number;
  /** The id the organizer issued. */
  readonly registrationId: string;
  /** When it was registered (ISO-8601 UTC). */
  readonly registeredAt: string;
}

/** What `team update` may change; the id and the registration date never change. */
export interface TeamChanges {
  readonly name?: string;
  readonly members?: readonly TeamMember[];
}

/** 40 random bits: guessing another team's id is hopeless, though nothing relies on it being secret. */
export function newRegistrationId(): string {
  const bytes = randomBytes(5);
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let id = '';
  for (let i = 7; i >= 0; i--) id += BASE32[Number((bits >> BigInt(5 * i)) & 31n)]!;
  return `team-${id}`;
}

export function isRegistrationId(value: string): boolean {
  return REGISTRATION_ID.test(value);
}

const memberSchema = z.strictObject({
  name: z.string().trim().min(1, 'a member needs a name').regex(/^\P{Cc}*$/u, "a member's name must not hold control characters"),
  email: z.email().optional(),
});

const teamSchema = z.strictObject({
  // Whitespace runs are one space: two names that differ only in spacing would look the same on the board.
  name: z
    .string()
    .transform((s) => s.trim().replace(/\s+/g, ' '))
    .pipe(
      z
        .string()
        .min(1, 'a team needs a non-empty name')
        .max(MAX_TEAM_NAME, `a team name has at most ${MAX_TEAM_NAME} characters`)
        // Lists and logs print names as they are: a control character could rewrite what the terminal shows.
        .regex(/^\P{Cc}*$/u, 'a team name must not hold control characters'),
    ),
  members: z.array(memberSchema).min(1, `a team has 1 to ${MAX_MEMBERS} members`).max(MAX_MEMBERS, `a team has 1 to ${MAX_MEMBERS} members`),
});

/** The team as it is stored (name spacing normalized), or an error naming what is wrong. */
export function checkedTeam(team: NewTeam): NewTeam {
  const parsed = teamSchema.safeParse(team);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.length ? issue.path.join('.') : undefined;
    throw new OptibenchError(issue.path.at(-1) === 'email' ? 'expected an e-mail address' : issue.message, key ? { key } : undefined);
  }
  const { name, members } = parsed.data;
  return { name, members: members.map((m) => (m.email === undefined ? { name: m.name } : { name: m.name, email: m.email })) };
}

/** Names compared as a reader of the board would: case and Unicode compatibility forms aside. */
export function sameTeamName(a: string, b: string): boolean {
  const key = (s: string) => s.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
  return key(a) === key(b);
}

/** "Ada Lovelace <ada@example.org>" or "Alan Turing": a member as the organizer types it. */
export function parseMember(text: string): TeamMember {
  const match = /^\s*([^<>]*?)\s*(?:<([^<>]*)>)?\s*$/.exec(text);
  if (!match) throw new OptibenchError(`"${text}" is not a member: expected "Name" or "Name <email>"`);
  const name = match[1]!;
  const email = match[2]?.trim();
  if (name === '') throw new OptibenchError(`"${text}" is not a member: expected "Name" or "Name <email>", with a name`);
  if (email !== undefined && !z.email().safeParse(email).success) throw new OptibenchError(`"${text}" is not a member: ${email === '' ? 'empty <>' : `<${email}> is not an e-mail address`}`);
  return email === undefined ? { name } : { name, email };
}
