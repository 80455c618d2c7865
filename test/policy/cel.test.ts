/**
 * CEL `allow` / `deny` expressions (src/policy/cel.ts) and how policies use them
 * (src/policy/requirements.ts): the helpers, compile-time type checking with positions, and fail-closed
 * evaluation errors.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpression, ExpressionError, type CelContext } from '../../src/policy/cel.js';
import { celContext, compilePolicy, evaluatePolicy, explainPolicy } from '../../src/policy/requirements.js';
import { identityOf, policyRequest } from './support.js';

const IDENTITY = identityOf({ email: 'me@farcaller.net', email_verified: true, groups: ['admins', 'staff'], preferred_username: 'me' });
const OUTSIDER = identityOf({ email: 'them@example.org', email_verified: true, groups: ['staff'] });

function context(options: { ip?: string; method?: string; path?: string; headers?: Record<string, string>; search?: string; claims?: Record<string, unknown> } = {}, identity = IDENTITY): CelContext {
  const { claims = {}, ...request } = options;
  return celContext(identity, claims, policyRequest(request.path ?? '/api/items', request));
}

describe('compileExpression: the documented forms', () => {
  const CASES: readonly { source: string; context: CelContext; expected: boolean }[] = [
    { source: 'request.ip in cidr("192.168.1.0/24")', context: context({ ip: '192.168.1.20' }), expected: true },
    { source: 'request.ip in cidr("192.168.1.0/24")', context: context({ ip: '192.168.2.20' }), expected: false },
    { source: 'request.ip in cidr("192.168.1.0/24")', context: context({ ip: '::ffff:192.168.1.20' }), expected: true },
    { source: 'request.ip in cidr("192.168.1.0/24")', context: context({ ip: 'unknown' }), expected: false },
    { source: 'request.ip in cidr("fd00::/8")', context: context({ ip: 'fd00::5' }), expected: true },
    { source: '!(request.ip in cidr("192.168.1.0/24"))', context: context({ ip: '10.1.1.1' }), expected: true },
    { source: 'ipInCidr(request.ip, "10.0.0.0/8")', context: context({ ip: '10.20.30.40' }), expected: true },
    { source: 'ipInCidr(request.ip, "10.0.0.0/8")', context: context({ ip: '11.0.0.1' }), expected: false },
    { source: 'ipInCidr(request.ip, "10.0.0.0/8")', context: context({ ip: 'unknown' }), expected: false },
    { source: '"admins" in identity.groups', context: context(), expected: true },
    { source: '"admins" in identity.groups', context: context({}, OUTSIDER), expected: false },
    { source: '"Admins" in identity.groups', context: context(), expected: false },
    { source: 'identity.email.endsWith("@farcaller.net")', context: context(), expected: true },
    { source: 'identity.email.endsWith("@farcaller.net")', context: context({}, OUTSIDER), expected: false },
    { source: 'request.method == "GET" && request.path.startsWith("/api/")', context: context({ method: 'GET', path: '/api/x' }), expected: true },
    { source: 'request.method == "GET" && request.path.startsWith("/api/")', context: context({ method: 'POST', path: '/api/x' }), expected: false },
    { source: 'request.method == "GET" && request.path.startsWith("/api/")', context: context({ method: 'GET', path: '/apix' }), expected: false },
    { source: 'request.headers["x-device"] == "homekit"', context: context({ headers: { 'x-device': 'homekit' } }), expected: true },
    { source: 'request.headers["x-device"] == "homekit"', context: context({ headers: { 'x-device': 'browser' } }), expected: false },
    { source: '"x-device" in request.headers && request.headers["x-device"] == "homekit"', context: context(), expected: false },
    { source: 'has(request.headers.x) ', context: context(), expected: false },
    { source: 'request.query["tab"] == "settings"', context: context({ search: '?tab=settings&tab=other' }), expected: true },
    { source: 'identity.emailVerified && identity.username == "me"', context: context(), expected: true },
    { source: 'identity.authMethod == "session" && request.scheme == "https" && request.host == "app.homelab.example.com"', context: context(), expected: true },
    { source: 'identity.claims.role == "ops"', context: context({ claims: { role: 'ops' } }), expected: true },
    { source: 'size(identity.groups) >= 2', context: context(), expected: true },
    { source: 'identity.claims.flag', context: context({ claims: { flag: true } }), expected: true },
    { source: 'identity.claims.flag', context: context({ claims: { flag: false } }), expected: false },
  ];
  for (const { source, context: variables, expected } of CASES) {
    test(`${source} → ${expected}`, () => {
      const compiled = compileExpression(source);
      assert.equal(compiled.source, source);
      assert.equal(compiled.evaluate(variables), expected);
    });
  }
});

describe('compileExpression: a `dyn` result that is not a boolean throws (the policy then denies)', () => {
  for (const [flag, type] of [['true', 'string'], [1, 'number'], [null, 'null'], [[true], 'object']] as const) {
    test(`a claim ${JSON.stringify(flag)} yields ${type}`, () => {
      const compiled = compileExpression('identity.claims.flag');
      assert.throws(() => compiled.evaluate(context({ claims: { flag } })), new RegExp(`yielded ${type}, not a boolean`));
    });
  }
});

/** The library marks the position with a caret line under the echoed source. */
const POSITION_MARKER = /\n>?\s*\d+ \| .*\n\s*\^/;

describe('compileExpression: errors at load time', () => {
  const CASES: readonly { source: string; why: string; message: RegExp }[] = [
    { source: 'identity.email ==', why: 'syntax error', message: /Unexpected token/ },
    { source: 'identity.email == "a" &&& true', why: 'syntax error', message: /./ },
    { source: '"a" in [', why: 'syntax error', message: /./ },
    { source: 'identity.emial == "x"', why: 'unknown field', message: /emial/ },
    { source: 'request.pth.startsWith("/")', why: 'unknown field', message: /pth/ },
    { source: 'user.email == "x"', why: 'unknown variable', message: /user/ },
    { source: 'identity.groups == "admins"', why: 'type mismatch', message: /./ },
    { source: 'nosuchfunction(request.ip)', why: 'unknown function', message: /nosuchfunction/ },
    { source: 'cidr(1) == cidr(2)', why: 'wrong argument type', message: /./ },
    { source: '1 + 2', why: 'int, not bool', message: /int/ },
    { source: '"yes"', why: 'string, not bool', message: /string/ },
    { source: 'identity.groups', why: 'list, not bool', message: /list/ },
  ];
  for (const { source, why, message } of CASES) {
    test(`${source} (${why}) throws ExpressionError with a position`, () => {
      assert.throws(
        () => compileExpression(source),
        (error: unknown) => {
          assert.ok(error instanceof ExpressionError, `not an ExpressionError: ${String(error)}`);
          assert.ok(error instanceof SyntaxError);
          assert.match(error.message, message);
          assert.match(error.message, POSITION_MARKER, `no position marker in ${JSON.stringify(error.message)}`);
          return true;
        },
      );
    });
  }

  test('an expression nested beyond the depth limit is refused', () => {
    const deep = `${'('.repeat(200)}true${')'.repeat(200)}`;
    assert.throws(() => compileExpression(deep), ExpressionError);
  });

  test('a policy names the part with the bad expression, and keeps the cause', () => {
    for (const part of ['allow', 'deny'] as const) {
      assert.throws(
        () => compilePolicy({ [part]: 'identity.emial == "x"' }, { bearerProvider: false }),
        (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.ok(error.message.startsWith(`${part}: `), error.message);
          assert.ok(error.cause instanceof ExpressionError);
          return true;
        },
      );
    }
  });
});

describe('compileExpression: evaluation errors throw, policies fail closed', () => {
  const ERRORS: readonly { source: string; context: CelContext }[] = [
    { source: 'request.headers["x-missing"] == "1"', context: context() },
    { source: 'request.query["tab"] == "x"', context: context() },
    { source: 'identity.claims.role == "ops"', context: context() },
    { source: 'ipInCidr(request.ip, "not-a-range")', context: context() },
    { source: 'request.ip in cidr("10.0.0.0/33")', context: context() },
  ];
  for (const { source, context: variables } of ERRORS) {
    test(`${source}: evaluate throws`, () => {
      assert.throws(() => compileExpression(source).evaluate(variables));
    });
    for (const part of ['allow', 'deny'] as const) {
      test(`${source} as ${part}: expression-error, never allow`, () => {
        const policy = compilePolicy({ [part]: source }, { bearerProvider: false });
        const claims = variables.identity.claims;
        const request = policyRequest(variables.request.path, { ip: variables.request.ip, headers: variables.request.headers });
        assert.deepEqual(evaluatePolicy(policy, IDENTITY, claims, request), { allow: false, reason: 'expression-error', requirement: part });
        const [step] = explainPolicy(policy, IDENTITY, claims, request);
        assert.equal(step?.pass, false);
        assert.match(step.detail, /^evaluation failed/);
      });
    }
  }
});

describe('allow and deny in a policy', () => {
  const CASES: readonly { name: string; allow?: string; deny?: string; headers?: Record<string, string>; expected: ReturnType<typeof evaluatePolicy> }[] = [
    { name: 'allow true', allow: '"admins" in identity.groups', expected: { allow: true } },
    { name: 'allow false', allow: '"root" in identity.groups', expected: { allow: false, reason: 'allow-expression-false', requirement: 'allow' } },
    { name: 'deny false', deny: 'request.method == "DELETE"', expected: { allow: true } },
    { name: 'deny true', deny: 'request.method == "GET"', expected: { allow: false, reason: 'deny-expression-true', requirement: 'deny' } },
    { name: 'deny wins over allow', allow: 'true', deny: 'true', expected: { allow: false, reason: 'deny-expression-true', requirement: 'deny' } },
    { name: 'header-gated allow', allow: '"x-device" in request.headers && request.headers["x-device"] == "homekit"', headers: { 'x-device': 'homekit' }, expected: { allow: true } },
    { name: 'header-gated allow without the header', allow: '"x-device" in request.headers && request.headers["x-device"] == "homekit"', expected: { allow: false, reason: 'allow-expression-false', requirement: 'allow' } },
  ];
  for (const { name, allow, deny, headers, expected } of CASES) {
    test(name, () => {
      const policy = compilePolicy({ ...(allow === undefined ? {} : { allow }), ...(deny === undefined ? {} : { deny }) }, { bearerProvider: false });
      assert.equal(policy.usesExpressions, true);
      assert.deepEqual(evaluatePolicy(policy, IDENTITY, {}, policyRequest('/x', { headers: headers ?? {} })), expected);
    });
  }

  test('the CEL context: first header and query values, claims copied, groups a list', () => {
    const variables = celContext(IDENTITY, { role: 'ops' }, { ...policyRequest('/p', { search: '?a=1&a=2&b=' }), headers: { 'x-multi': ['one', 'two'], 'x-none': undefined } });
    assert.deepEqual(variables.request.query, { a: '1', b: '' });
    assert.deepEqual(variables.request.headers, { 'x-multi': 'one' });
    assert.deepEqual(variables.identity.claims, { role: 'ops' });
    assert.deepEqual(variables.identity.groups, ['admins', 'staff']);
  });
});
