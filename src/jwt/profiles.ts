/** All bearer-token profiles of a configuration: the named ones, and one per oauth2-proxy `extra_jwt_issuers` entry. */
import type { Config, ProfileConfig } from '../config/index.js';
import { compileProfile, type BearerProfile, type ProfileEnvironment } from './profile.js';

/** The compiled profiles. */
export interface CompiledProfiles {
  readonly named: ReadonlyMap<string, BearerProfile>;
  /** `extra_jwt_issuers`, by issuer: accepted wherever `bearer:provider` is. */
  readonly extraIssuers: ReadonlyMap<string, BearerProfile>;
  all(): BearerProfile[];
  /** {@link profileWarnings} of the configuration's profiles, for the start-up log. */
  readonly warnings: readonly string[];
}

/**
 * Warnings about the profiles of a configuration: plugin keys that are accepted (so a pasted block loads)
 * but do nothing in gatehouse.
 */
export function profileWarnings(profiles: Readonly<Record<string, ProfileConfig>>): string[] {
  const warnings: string[] = [];
  for (const [name, profile] of Object.entries(profiles)) {
    if (profile.infoToStdout !== undefined) {
      warnings.push(`bearer.profiles.${name}.infoToStdout (jwt-middleware v1.2.6 to v1.2.19) has no effect: gatehouse writes its logs to standard output, and every refused token to the auth log (logging.auth) with the profile, reason and description.`);
    }
  }
  return warnings;
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
  return { named, extraIssuers, all: () => [...named.values(), ...extraIssuers.values()], warnings: profileWarnings(config.bearer.profiles) };
}
