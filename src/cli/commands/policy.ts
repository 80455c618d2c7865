/** `gatehouse policy explain` and `gatehouse policy test`: see why a request would be allowed or denied. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { parse as parseYaml } from 'yaml';
import { readEmailsFile, usesDevelopmentProvider, type LoadedConfig } from '../../config/index.js';
import { loadForCommand } from '../load.js';
import { isGatewayError } from '../../errors.js';
import { identityFromClaims, parseEmail, type Identity } from '../../identity/index.js';
import { emailPolicyFromConfig } from '../../policy/email-policy.js';
import { explainRequest, type Explanation } from '../../policy/explain.js';
import { compilePolicySet } from '../../policy/routes.js';
import { ipArgument, parseArgs, quoteValue, unexpectedArgument, unknownCommand, UsageError } from '../args.js';
import { EXIT, type CommandIo } from '../io.js';

export const POLICY_HELP = `Usage: gatehouse policy explain --config FILE --url URL [options]
       gatehouse policy test CASES.yaml [--config FILE]

explain: prints which route matches the request, each requirement with
pass/fail and why, and the outcome (allow, deny with its reason code,
unauthenticated, bad-request), using the same normalized path, route
selection and checks as the forward-auth check.
  --url URL          the original URL, e.g. https://grafana.homelab.example.com/d/x
  --method M         the original method (default GET)
  --email E          a signed-in user with this (verified) email
  --groups a,b       that user's groups (with --email)
  --token JWT        a bearer token; its claims are DECODED, NOT VERIFIED
  --ip A             the client address (default: unknown, so source rules fail)
  --policy NAME      the policy the proxy names with ?policy=NAME

test: runs a table of expected decisions kept next to the configuration;
exit 1 when any case differs. CASES.yaml:
  config: gatehouse.yaml          # relative to CASES.yaml; --config wins
  cases:
    - url: https://grafana.homelab.example.com/api/health
      expect: allow               # allow | deny | unauthenticated | bad-request
    - url: https://traefik.homelab.example.com/dashboard/
      email: bob@farcaller.net
      groups: [users]
      expect: deny
      reason: group-not-allowed   # optional

Examples:
  gatehouse policy explain --config gatehouse.yaml --url https://traefik.homelab.example.com/dashboard/ --email bob@farcaller.net
  gatehouse policy explain --config gatehouse.yaml --url https://vminsert.homelab.example.com/api/v1/import --method POST --token "$TOKEN" --ip 192.168.1.20
  gatehouse policy test policy-cases.yaml`;

interface Described {
  url: string;
  method?: string;
  email?: string;
  groups?: readonly string[];
  token?: string;
  ip?: string;
  policy?: string;
}

function identityOf(described: Described, loaded: LoadedConfig): Identity | undefined {
  if (described.token !== undefined) {
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(described.token);
    } catch {
      throw new UsageError('--token is not a JWT', 'policy');
    }
    return identityFromClaims(claims, loaded.config.provider.claims, 'bearer');
  }
  if (described.email === undefined) return undefined;
  const email = parseEmail(described.email);
  if (email === undefined) throw new UsageError(`${quoteValue(described.email ?? '')} is not an email address`, 'policy');
  return { sub: email, email, emailVerified: true, groups: [...(described.groups ?? [])], username: email.split('@')[0] ?? '', issuer: loaded.config.provider.issuer, authMethod: 'session' };
}

/** The path and query of an absolute URL as written, without the fragment. */
function rawPathAndQuery(text: string): string {
  const rest = text.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split('#')[0] ?? '';
  return rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
}

function decide(loaded: LoadedConfig, described: Described): Explanation {
  let url: URL;
  try {
    url = new URL(described.url);
  } catch {
    throw new UsageError(`${quoteValue(described.url)} is not an absolute URL`, 'policy');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${quoteValue(described.url)} is not an http(s) URL`, 'policy');
  const { config } = loaded;
  const identity = identityOf(described, loaded);
  const claims = described.token === undefined ? {} : decodeJwt(described.token);
  return explainRequest(
    compilePolicySet(config),
    { emailPolicy: emailPolicyFromConfig(config, usesDevelopmentProvider(config)), emailsFromFile: readEmailsFile(config.authorization.emailsFile) },
    { method: described.method ?? 'GET', url, rawPathAndQuery: rawPathAndQuery(described.url), ip: described.ip ?? 'unknown', identity, claims, policyName: described.policy },
  );
}

function formatExplanation(explanation: Explanation, described: Described): string {
  const lines = [
    `request:    ${(described.method ?? 'GET').toUpperCase()} ${described.url}`,
    `path:       ${explanation.normalizedPath ?? '(refused: ambiguous or malformed path)'}`,
    `client ip:  ${described.ip ?? 'unknown (give --ip to test source rules)'}`,
    `identity:   ${described.token !== undefined ? 'bearer token (claims decoded, signature NOT verified)' : described.email !== undefined ? `session of ${described.email}${described.groups !== undefined && described.groups.length > 0 ? ` in [${described.groups.join(', ')}]` : ''}` : 'none'}`,
    `selected:   ${explanation.selected}${explanation.audit ? ' (audit mode)' : ''}`,
    `accepts:    ${explanation.accepts === '' ? '-' : explanation.accepts}`,
  ];
  for (const step of explanation.steps) lines.push(`  ${step.pass ? 'pass' : 'FAIL'}  ${step.requirement}: ${step.detail}`);
  lines.push(`outcome:    ${explanation.outcome} (${explanation.reason})`);
  return lines.join('\n');
}

function runExplain(argv: readonly string[], io: CommandIo): number {
  const args = parseArgs(argv, 'policy', { own: ['url', 'method', 'email', 'groups', 'token', 'ip', 'policy'], acceptConfig: true });
  if (args.help) {
    io.out(POLICY_HELP);
    return EXIT.ok;
  }
  if (args.positional.length > 0) throw unexpectedArgument(args.positional[0] ?? '', 'policy');
  if (args.configFlags.length > 0) throw new UsageError(`unknown flag '--${args.configFlags[0]?.name ?? ''}'`, 'policy');
  const url = args.own.get('url');
  if (url === undefined) throw new UsageError('--url is required', 'policy');
  if (args.own.has('token') && args.own.has('email')) throw new UsageError('give --email or --token, not both', 'policy');
  // Groups belong to the signed-in user --email names; a token's come from its own claims.
  if (args.own.has('groups') && !args.own.has('email')) throw new UsageError('--groups needs --email (a bearer token carries its groups in its claims)', 'policy');
  if (args.own.has('ip')) ipArgument(args.own.get('ip') ?? '', 'policy');
  const loaded = loadForCommand(args, io);
  if (typeof loaded === 'number') return loaded;
  const groups = args.own.get('groups');
  const described: Described = {
    url,
    ...(args.own.has('method') ? { method: args.own.get('method') ?? 'GET' } : {}),
    ...(args.own.has('email') ? { email: args.own.get('email') ?? '' } : {}),
    ...(groups === undefined ? {} : { groups: groups.split(',').map((group) => group.trim()).filter((group) => group !== '') }),
    ...(args.own.has('token') ? { token: args.own.get('token') ?? '' } : {}),
    ...(args.own.has('ip') ? { ip: args.own.get('ip') ?? '' } : {}),
    ...(args.own.has('policy') ? { policy: args.own.get('policy') ?? '' } : {}),
  };
  io.out(formatExplanation(decide(loaded, described), described));
  return EXIT.ok;
}

/** The outcomes a case may expect. */
const OUTCOMES: readonly string[] = ['allow', 'deny', 'unauthenticated', 'bad-request'];

interface TestCase extends Described {
  name?: string;
  expect: string;
  reason?: string;
}

function readCases(file: string): { config?: string; cases: TestCase[] } {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read '${file}': ${error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error)}`, 'policy');
  }
  const root = parsed as { config?: unknown; cases?: unknown } | null;
  if (root === null || typeof root !== 'object' || !Array.isArray(root.cases)) throw new UsageError(`'${file}' has no list of cases`, 'policy');
  if (root.cases.length === 0) throw new UsageError(`'${file}' has an empty list of cases`, 'policy');
  const known = new Set(['name', 'url', 'expect', 'method', 'email', 'groups', 'token', 'ip', 'policy', 'reason']);
  const cases = root.cases.map((raw: unknown, index: number): TestCase => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`case ${index + 1} of '${file}' is not a mapping of url, expect, …`, 'policy');
    const item = raw as Record<string, unknown>;
    // A misspelt key would make a case check less than it says.
    const unknown = Object.keys(item).filter((key) => !known.has(key));
    if (unknown.length > 0) throw new UsageError(`case ${index + 1} of '${file}' has unknown keys: ${unknown.join(', ')} (known: ${[...known].join(', ')})`, 'policy');
    for (const key of ['name', 'method', 'email', 'token', 'ip', 'policy', 'reason']) {
      if (item[key] !== undefined && typeof item[key] !== 'string') throw new UsageError(`case ${index + 1} of '${file}': ${key} must be text`, 'policy');
    }
    if (item.groups !== undefined && !(Array.isArray(item.groups) && item.groups.every((group) => typeof group === 'string'))) throw new UsageError(`case ${index + 1} of '${file}': groups must be a list of names, such as [admins]`, 'policy');
    if (item.groups !== undefined && item.email === undefined) throw new UsageError(`case ${index + 1} of '${file}': groups needs email (a token carries its groups in its claims)`, 'policy');
    if (typeof item.ip === 'string') ipArgument(item.ip, 'policy', `case ${index + 1} of '${file}': ip`);
    const text = (key: string): string | undefined => {
      const value = item[key];
      return typeof value === 'string' ? value : undefined;
    };
    const url = text('url');
    const expect = text('expect');
    if (url === undefined || item.expect === undefined) throw new UsageError(`case ${index + 1} of '${file}' needs url and expect (${OUTCOMES.join(', ')})`, 'policy');
    if (expect === undefined || !OUTCOMES.includes(expect)) throw new UsageError(`case ${index + 1} of '${file}': expect must be one of ${OUTCOMES.join(', ')}, not ${expect === undefined ? JSON.stringify(item.expect) : `'${expect}'`}`, 'policy');
    const groups = Array.isArray(item.groups) ? item.groups.filter((group): group is string => typeof group === 'string') : undefined;
    const optional = (key: 'name' | 'method' | 'email' | 'token' | 'ip' | 'policy' | 'reason') => {
      const value = text(key);
      return value === undefined ? {} : { [key]: value };
    };
    return { url, expect, ...optional('name'), ...optional('method'), ...optional('email'), ...optional('token'), ...optional('ip'), ...optional('policy'), ...optional('reason'), ...(groups === undefined ? {} : { groups }) };
  });
  return { ...(typeof root.config === 'string' ? { config: resolve(dirname(file), root.config) } : {}), cases };
}

function runTest(argv: readonly string[], io: CommandIo): number {
  const args = parseArgs(argv, 'policy', { acceptConfig: true });
  if (args.help) {
    io.out(POLICY_HELP);
    return EXIT.ok;
  }
  if (args.configFlags.length > 0) throw new UsageError(`unknown flag '--${args.configFlags[0]?.name ?? ''}'`, 'policy');
  const [file, extra] = args.positional;
  if (file === undefined) throw new UsageError('name the file of cases: gatehouse policy test CASES.yaml', 'policy');
  if (extra !== undefined) throw unexpectedArgument(extra, 'policy');
  const table = readCases(file);
  const loaded = loadForCommand({ config: args.config ?? table.config, ...(args.config === undefined && table.config !== undefined ? { configNamedBy: { kind: 'file', name: file } } : {}), configFlags: [] }, io);
  if (typeof loaded === 'number') return loaded;
  let failed = 0;
  table.cases.forEach((testCase, index) => {
    const explanation = decide(loaded, testCase);
    const pass = explanation.outcome === testCase.expect && (testCase.reason === undefined || testCase.reason === explanation.reason);
    const label = testCase.name ?? `${(testCase.method ?? 'GET').toUpperCase()} ${testCase.url}${testCase.email === undefined ? '' : ` as ${testCase.email}`}`;
    if (pass) {
      io.out(`ok ${index + 1} - ${label}`);
    } else {
      failed += 1;
      io.out(`not ok ${index + 1} - ${label}\n    expected ${testCase.expect}${testCase.reason === undefined ? '' : ` (${testCase.reason})`}, got ${explanation.outcome} (${explanation.reason}) via ${explanation.selected}`);
    }
  });
  io.out(`${table.cases.length - failed} passed, ${failed} failed`);
  return failed === 0 ? EXIT.ok : EXIT.failure;
}

export function runPolicy(argv: readonly string[], io: CommandIo): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) io.err(POLICY_HELP);
    else io.out(POLICY_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  try {
    if (sub === 'explain') return runExplain(rest, io);
    if (sub === 'test') return runTest(rest, io);
  } catch (error) {
    if (isGatewayError(error)) {
      io.err(`gatehouse: ${error.message} [${error.code}]`);
      return EXIT.config;
    }
    throw error;
  }
  throw unknownCommand('policy', sub);
}
