/** All bearer-token profiles of a configuration: the named ones, and one per oauth2-proxy `extra_jwt_issuers` entry. */
import type { Config } from '../config/index.js';
import { compileProfile, type BearerProfile, type ProfileEnvironment } from './profile.js';

/** The compiled profiles. */
export interface CompiledProfiles {
  readonly named: ReadonlyMap<string, BearerProfile>;
  /** `extra_jwt_issuers`, by issuer: accepted wherever `bearer:provider` is. */
  readonly extraIssuers: ReadonlyMap<string, BearerProfile>;
  all(): BearerProfile[];
}

/** A profile that does not compile. */
export class ProfileCompileError extends Error {
  constructor(readonly problems: readonly { path: string; message: string }[]) {
    super(problems.map((problem) => `${problem.path}: ${problem.message}`).join('; '));
  }
}

/**
 * Compiles every profile.
 * @throws ProfileCompileError with every problem.
 */
export function compileProfiles(config: Pick<Config, 'bearer' | 'provider'>, environment: ProfileEnvironment): CompiledProfiles {
  const problems: { path: string; message: string }[] = [];
  const named = new Map<string, BearerProfile>();
  for (const [name, profile] of Object.entries(config.bearer.profiles)) {
    if (name === 'provider') {
      problems.push({ path: `bearer.profiles.${name}`, message: "'provider' is the name of the provider's own tokens (bearer.provider)" });
      continue;
    }
    try {
      named.set(name, compileProfile(name, profile, environment));
    } catch (error) {
      problems.push({ path: `bearer.profiles.${name}`, message: error instanceof Error ? error.message : String(error) });
    }
  }
  const extraIssuers = new Map<string, BearerProfile>();
  config.bearer.extraIssuers.forEach((entry, index) => {
    // oauth2-proxy splits at the first `=`: the issuer cannot hold one, the audience can.
    const at = entry.indexOf('=');
    const issuer = entry.slice(0, at);
    const audience = entry.slice(at + 1);
    try {
      // The shared deny-list has a list per named profile; these profiles have no name to revoke under.
      const { sharedDenyList: _shared, ...unshared } = environment;
      extraIssuers.set(issuer, compileProfile(`extra-${index}`, { issuers: [issuer], audiences: [audience], claims: { email: config.provider.claims.email, groups: config.provider.claims.groups, username: config.provider.claims.username } }, unshared));
    } catch (error) {
      problems.push({ path: `bearer.extraIssuers[${index}]`, message: error instanceof Error ? error.message : String(error) });
    }
  });
  if (problems.length > 0) {
    for (const profile of [...named.values(), ...extraIssuers.values()]) profile.close();
    throw new ProfileCompileError(problems);
  }
  return { named, extraIssuers, all: () => [...named.values(), ...extraIssuers.values()] };
}
