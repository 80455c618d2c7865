/**
 * The Dockerfile's promises, read statically (no Docker engine here), then the runtime stage's production
 * install done for real: the files the runtime stage copies, `npm ci --omit=dev --ignore-scripts` as it
 * runs it, and the entry point started from that folder the ways the image and deploy/kubernetes start it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import { freePort, spawnLogged, type Spawned } from '../e2e/support/processes.js';
import { copyOf, envOf, healthcheckOf, instructionsOf, parseDockerfile, runCommands, shellWords, type Dockerfile, type Stage } from './dockerfile-parser.js';
import { at, cookieSecret, listenPort, MANIFESTS, objectAt, PACKAGE, rawRequest, readYamlDocuments, ROOT, startFakeProvider, type FakeProvider } from './support.js';

const run = promisify(execFile);
const DOCKERFILE_TEXT = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const DOCKERFILE = parseDockerfile(DOCKERFILE_TEXT);
const DEV_ONLY = ['typescript', 'eslint', 'tsx', 'playwright-core', 'fast-check'];

function runtimeStage(dockerfile: Dockerfile = DOCKERFILE): Stage {
  const stage = dockerfile.stages[dockerfile.stages.length - 1];
  if (stage === undefined) throw new Error('the Dockerfile has no stage');
  return stage;
}

function stageNamed(name: string): Stage {
  const stage = DOCKERFILE.stages.find((candidate) => candidate.name === name || String(candidate.index) === name);
  if (stage === undefined) throw new Error(`no stage '${name}'`);
  return stage;
}

function lastOf(stage: Stage, keyword: string): string[] {
  const found = instructionsOf(stage, keyword).pop();
  if (found === undefined) throw new Error(`the ${stage.name ?? stage.index} stage has no ${keyword}`);
  if (found.exec === undefined) throw new Error(`line ${found.line}: ${keyword} is not in exec (JSON) form`);
  return [...found.exec];
}

function envOfStage(stage: Stage): Record<string, string> {
  return Object.assign({}, ...instructionsOf(stage, 'ENV').map(envOf)) as Record<string, string>;
}

/** The `npm ...` commands of a stage's RUN instructions, as words. */
function npmCommands(stage: Stage): string[][] {
  return instructionsOf(stage, 'RUN')
    .flatMap(runCommands)
    .filter((words) => words[0] === 'npm');
}

function workdirOf(stage: Stage): string {
  return instructionsOf(stage, 'WORKDIR').pop()?.args ?? '/';
}

/** Docker's .dockerignore: the last matching pattern decides; a pattern also covers everything below a match. */
function dockerignored(path: string, patterns: readonly string[]): boolean {
  const toRegExp = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/^\/+|\/+$/g, '')
        .split('')
        .map((char, index, chars) => {
          if (char === '*') return chars[index + 1] === '*' ? '' : chars[index - 1] === '*' ? '.*' : '[^/]*';
          if (char === '?') return '[^/]';
          return char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('')
        .replace(/\.\*\//g, '(?:.*/)?')}$`,
    );
  const parts = posix.normalize(path).replace(/^\.\/|\/$/g, '').split('/');
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const regexp = toRegExp(negated ? raw.slice(1) : raw);
    for (let length = 1; length <= parts.length; length += 1) {
      if (regexp.test(parts.slice(0, length).join('/'))) {
        ignored = !negated;
        break;
      }
    }
  }
  return ignored;
}

const DOCKERIGNORE = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split(/\r?\n/)
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('the Dockerfile parser', () => {
  test('joins continuations, drops comments inside them, splits flags and reads exec form', () => {
    const parsed = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=node:20',
        'from ${BASE} as build',
        'RUN apt-get update \\',
        '  # a comment inside the continuation',
        '',
        '  && apt-get install -y x',
        'COPY --from=build --chown=1:1 /a/ b/',
        'ENV A=1 B="two words" \\',
        '    C=3',
        'ENV LEGACY value with spaces',
        'HEALTHCHECK --interval=5s CMD ["node", "-e", "1"]',
        'FROM scratch',
        'ENTRYPOINT ["x", "y"]',
        'CMD echo hi',
      ].join('\n'),
    );
    assert.equal(parsed.preamble[0]?.keyword, 'ARG');
    assert.deepEqual(
      parsed.stages.map((stage) => [stage.name, stage.image]),
      [
        ['build', '${BASE}'],
        [undefined, 'scratch'],
      ],
    );
    const [build, final] = parsed.stages;
    assert.ok(build !== undefined && final !== undefined);
    assert.deepEqual(runCommands(instructionsOf(build, 'RUN')[0]!), [
      ['apt-get', 'update'],
      ['apt-get', 'install', '-y', 'x'],
    ]);
    assert.equal(instructionsOf(build, 'RUN')[0]?.line, 4);
    assert.deepEqual(copyOf(instructionsOf(build, 'COPY')[0]!), { sources: ['/a/'], destination: 'b/', from: 'build' });
    assert.equal(instructionsOf(build, 'COPY')[0]?.flags.chown, '1:1');
    assert.deepEqual(envOf(instructionsOf(build, 'ENV')[0]!), { A: '1', B: 'two words', C: '3' });
    assert.deepEqual(envOf(instructionsOf(build, 'ENV')[1]!), { LEGACY: 'value with spaces' });
    const health = healthcheckOf(instructionsOf(build, 'HEALTHCHECK')[0]!);
    assert.deepEqual([health.flags.interval, health.exec], ['5s', ['node', '-e', '1']]);
    assert.deepEqual(instructionsOf(final, 'ENTRYPOINT')[0]?.exec, ['x', 'y']);
    assert.equal(instructionsOf(final, 'CMD')[0]?.exec, undefined);
    assert.deepEqual(shellWords(`a 'b c' "d\\"e"`), ['a', 'b c', 'd"e']);
  });

  test('.dockerignore matching follows Docker: last match wins, directories cover their contents', () => {
    assert.equal(dockerignored('node_modules/x/y.js', ['node_modules']), true);
    assert.equal(dockerignored('src/a.ts', ['*', '!src/']), false);
    assert.equal(dockerignored('src/node_modules/a', ['*', '!src/', '**/node_modules']), true);
    assert.equal(dockerignored('docs/a.md', ['*', '!src/']), true);
    assert.equal(dockerignored('a.log', ['*.log']), true);
  });
});

describe('the Dockerfile', () => {
  const runtime = runtimeStage();

  test('is multi-stage: a build stage and a runtime stage, both on node:20-bookworm-slim', () => {
    assert.ok(DOCKERFILE.stages.length >= 2, 'at least two stages');
    for (const stage of DOCKERFILE.stages) assert.equal(stage.image, 'node:20-bookworm-slim', `line ${stage.from.line}`);
    // The image's Node.js major satisfies the engines field (>=20.19: the node:20 tag follows 20.x).
    const engines = /^>=(\d+)/.exec((PACKAGE as unknown as { engines: { node: string } }).engines.node)?.[1];
    assert.equal(engines, '20');
    const build = stageNamed('build');
    assert.notEqual(build.index, runtime.index);
    assert.ok(
      instructionsOf(runtime, 'COPY').some((copy) => copy.flags.from === 'build'),
      'the runtime stage takes the build output from the build stage',
    );
  });

  test('the build stage installs with npm ci and compiles with npm run build, after copying what tsc needs', () => {
    const build = stageNamed('build');
    const npm = npmCommands(build);
    assert.ok(npm.some((words) => words[1] === 'ci'), 'npm ci');
    assert.ok(npm.some((words) => words.join(' ') === 'npm run build'), 'npm run build');
    const copied = instructionsOf(build, 'COPY').flatMap((copy) => copyOf(copy).sources.map((source) => normalize(source).replace(/\/$/, '')));
    // npm run build = tsc -p tsconfig.build.json, which extends tsconfig.json and compiles src/.
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src']) assert.ok(copied.includes(needed), `the build stage copies ${needed}`);
    const ciLine = instructionsOf(build, 'RUN').find((instruction) => runCommands(instruction).some((words) => words[0] === 'npm' && words[1] === 'ci'))?.line ?? 0;
    const lockLine = instructionsOf(build, 'COPY').find((copy) => copyOf(copy).sources.includes('package-lock.json'))?.line ?? Infinity;
    assert.ok(lockLine < ciLine, 'package-lock.json is copied before npm ci');
    const buildLine = instructionsOf(build, 'RUN').find((instruction) => /npm run build/.test(instruction.args))?.line ?? 0;
    const srcLine = instructionsOf(build, 'COPY').find((copy) => copyOf(copy).sources.some((source) => source.startsWith('src')))?.line ?? Infinity;
    assert.ok(srcLine < buildLine, 'src/ is copied before npm run build');
  });

  test('the runtime stage runs as a numeric non-root user', () => {
    const users = instructionsOf(runtime, 'USER');
    const user = users[users.length - 1];
    assert.ok(user !== undefined, 'a USER in the runtime stage');
    const [uid, gid] = user.args.split(':');
    assert.match(uid ?? '', /^\d+$/, 'numeric uid (Kubernetes runAsNonRoot can only verify a numeric one)');
    assert.notEqual(Number(uid), 0);
    assert.equal(Number(uid), 10001);
    if (gid !== undefined) assert.match(gid, /^\d+$/);
    // Nothing runs as root after the switch: every RUN comes before it.
    for (const instruction of instructionsOf(runtime, 'RUN')) assert.ok(instruction.line < user.line, `line ${instruction.line}: RUN after USER`);
  });

  test('WORKDIR, ENV, EXPOSE and STOPSIGNAL', () => {
    assert.equal(workdirOf(runtime), '/app');
    const env = envOfStage(runtime);
    assert.equal(env.NODE_ENV, 'production');
    assert.equal(env.GATEHOUSE_LISTEN, '0.0.0.0:4180');
    const exposed = instructionsOf(runtime, 'EXPOSE').flatMap((instruction) => instruction.args.split(/\s+/).map((port) => port.replace(/\/tcp$/, '')));
    assert.ok(exposed.includes('4180'), 'EXPOSE 4180');
    assert.ok(exposed.includes('9090'), 'EXPOSE 9090 (metrics)');
    assert.ok(exposed.includes(String(listenPort(env.GATEHOUSE_LISTEN))), 'the listen port is exposed');
    assert.equal(instructionsOf(runtime, 'STOPSIGNAL').pop()?.args, 'SIGTERM');
  });

  test('ENTRYPOINT runs dist/cli/bin.js with node and the node flags of npm start, CMD defaults to serve', () => {
    // `npm start` is `node <flags> dist/cli/bin.js serve`: the image runs the same command.
    const start = (PACKAGE.scripts.start ?? '').split(' ');
    assert.equal(start.at(-1), 'serve');
    assert.deepEqual(lastOf(runtime, 'ENTRYPOINT'), start.slice(0, -1));
    assert.ok(start.includes('--no-memory-reducer'), 'V8 memory reducer off (docs/architecture.md, the hot path)');
    assert.deepEqual(lastOf(runtime, 'CMD'), ['serve']);
    assert.equal(PACKAGE.bin?.gatehouse, 'dist/cli/bin.js', 'the same entry point as the npm bin');
  });

  test('HEALTHCHECK calls /ping on the listen port with node (no curl in slim images)', () => {
    const instruction = instructionsOf(runtime, 'HEALTHCHECK').pop();
    assert.ok(instruction !== undefined, 'a HEALTHCHECK');
    const health = healthcheckOf(instruction);
    assert.equal(health.none, false);
    assert.ok(health.exec !== undefined, 'exec form: no shell needed');
    assert.equal(health.exec[0], 'node');
    const script = health.exec.slice(1).join(' ');
    const url = /fetch\('([^']+)'\)/.exec(script)?.[1];
    assert.ok(url !== undefined, script);
    const target = new URL(url);
    assert.equal(target.pathname, '/ping');
    assert.equal(target.hostname, '127.0.0.1');
    assert.equal(target.port, String(listenPort(envOfStage(runtime).GATEHOUSE_LISTEN ?? '')));
    assert.match(script, /process\.exit\(r\.ok\?0:1\)/);
    assert.match(script, /\(\)=>process\.exit\(1\)/, 'a refused connection is unhealthy too');
    assert.doesNotMatch(instruction.args, /curl|wget/);
  });

  test('the runtime stage copies only dist/, schema/, package.json and package-lock.json', () => {
    const copies = instructionsOf(runtime, 'COPY').map(copyOf);
    assert.equal(instructionsOf(runtime, 'ADD').length, 0, 'no ADD');
    const sources = copies.flatMap((copy) => copy.sources.map((source) => `${copy.from === undefined ? '' : `${copy.from}:`}${normalize(source).replace(/\/$/, '')}`));
    const build = stageNamed('build');
    assert.deepEqual(sources.sort(), ['package-lock.json', 'package.json', 'schema', `build:${posix.join(workdirOf(build), 'dist')}`].sort());
    for (const source of sources) {
      assert.doesNotMatch(source, /(^|[:/])(node_modules|src|test|\.)$/, `${source} must not reach the runtime image`);
    }
  });

  test('the runtime npm ci installs production dependencies only, without install scripts', () => {
    const npm = npmCommands(runtime);
    const ci = npm.find((words) => words[1] === 'ci');
    assert.ok(ci !== undefined, 'npm ci in the runtime stage');
    assert.ok(ci.includes('--omit=dev'), '--omit=dev');
    assert.ok(ci.includes('--ignore-scripts'), '--ignore-scripts: prepare would need tsc');
    const copyLine = instructionsOf(runtime, 'COPY').find((copy) => copyOf(copy).sources.includes('package-lock.json'))?.line ?? Infinity;
    const ciLine = instructionsOf(runtime, 'RUN').find((instruction) => runCommands(instruction).some((words) => words[1] === 'ci'))?.line ?? 0;
    assert.ok(copyLine < ciLine, 'package.json and package-lock.json are there before npm ci');
    // --ignore-scripts is safe only while no production dependency needs an install script.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };
    const scripted = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && entry.hasInstallScript === true && entry.dev !== true);
    assert.deepEqual(scripted.map(([path]) => path), []);
  });

  test('every file the entry point needs is copied: dist/ imports only itself, node: and production dependencies', () => {
    const dist = join(ROOT, 'dist');
    if (!existsSync(join(dist, 'cli', 'bin.js'))) assert.fail('dist/ is missing: run npm run build (npm test does)');
    const runtimeDirs = instructionsOf(runtime, 'COPY').flatMap((copy) => copyOf(copy).sources.map((source) => posix.basename(source.replace(/\/$/, ''))));
    const entry = lastOf(runtime, 'ENTRYPOINT').find((word) => word.endsWith('.js')) ?? '';
    assert.ok(runtimeDirs.includes(entry.split('/')[0] ?? ''), `${entry} is under a copied folder`);
    // version.ts reads ../package.json, and "type": "module" there makes dist/*.js ES modules.
    assert.ok(runtimeDirs.includes('package.json'));
    assert.equal(PACKAGE.type, 'module');
    const production = new Set(Object.keys(PACKAGE.dependencies));
    const problems: string[] = [];
    const walk = (folder: string) => {
      for (const name of readdirSync(folder)) {
        const path = join(folder, name);
        if (statSync(path).isDirectory()) {
          walk(path);
          continue;
        }
        if (!name.endsWith('.js')) continue;
        const text = readFileSync(path, 'utf8');
        for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
          const specifier = match[1] ?? '';
          if (specifier.startsWith('node:')) continue;
          if (specifier.startsWith('.')) {
            if (!existsSync(join(dirname(path), specifier))) problems.push(`${relative(ROOT, path)}: ${specifier} does not exist`);
            continue;
          }
          const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
          if (!production.has(pkg)) problems.push(`${relative(ROOT, path)}: imports ${specifier}, which is not a production dependency`);
        }
      }
    };
    walk(dist);
    assert.deepEqual(problems, []);
  });

  test('.dockerignore keeps node_modules, dist, .git, test artifacts, coverage and docs out of the context', () => {
    for (const path of ['node_modules', 'node_modules/yaml/package.json', 'dist/cli/bin.js', '.git/HEAD', '.e2e-tmp/x', 'coverage/lcov.info', 'docs/deploy.md', 'test/e2e/.artifacts/a.png', 'test/deploy/dockerfile.test.ts', 'deploy/kubernetes/deployment.yaml', 'src/node_modules/x', 'npm-debug.log']) {
      assert.equal(dockerignored(path, DOCKERIGNORE), true, `${path} is left out of the build context`);
    }
    // ...but everything a COPY takes from the context is there.
    for (const stage of DOCKERFILE.stages) {
      for (const copy of instructionsOf(stage, 'COPY').map(copyOf)) {
        if (copy.from !== undefined) continue;
        for (const source of copy.sources) {
          assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
          assert.equal(dockerignored(source, DOCKERIGNORE), false, `${source} is in the build context`);
        }
      }
    }
    assert.equal(dockerignored('src/cli/bin.ts', DOCKERIGNORE), false);
    assert.equal(dockerignored('schema/gatehouse.schema.json', DOCKERIGNORE), false);
  });
});

/** Every file under `dir` with its size and modification time. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      const stat = statSync(path);
      out.set(relative(dir, path), stat.isDirectory() ? 'dir' : `${stat.size}:${stat.mtimeMs}`);
      if (stat.isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out;
}

describe('the production install of the runtime stage', { timeout: 240_000 }, () => {
  const runtime = runtimeStage();
  const build = stageNamed('build');
  let base = '';
  let app = '';
  let config = '';
  let provider: FakeProvider;
  let before_: Map<string, string>;
  const started: Spawned[] = [];

  /** The environment of the container: the image's ENV, a PATH, and a home and temp dir that do not exist. */
  const imageEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    TMPDIR: '/nonexistent/tmp',
    ...envOfStage(runtime),
    ...extra,
  });

  const entrypoint = lastOf(runtime, 'ENTRYPOINT');

  /** Starts the entry point with `args` from the app folder, as `docker run image args...` does. */
  const start = async (name: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ process: Spawned; port: number }> => {
    const [command = 'node', ...rest] = entrypoint;
    const child = spawnLogged(name, command === 'node' ? process.execPath : command, [...rest, ...args], { cwd: app, env });
    started.push(child);
    const match = await child.waitForOutput(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 20_000);
    return { process: child, port: Number(match[1]) };
  };

  const get = async (port: number, path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.text() };
  };

  const readyWithin = async (port: number, ms: number) => {
    const deadline = Date.now() + ms;
    let last = { status: 0, body: '' };
    while (Date.now() < deadline) {
      last = await get(port, '/ready');
      if (last.status === 200) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return last;
  };

  /** SIGTERM by PID, as `docker stop` (STOPSIGNAL) and the kubelet do; resolves with the exit code. */
  const stop = async (child: Spawned): Promise<number | null> => {
    await child.stop(8000);
    return child.child.exitCode;
  };

  before(async () => {
    const dist = join(ROOT, 'dist', 'cli', 'bin.js');
    if (!existsSync(dist)) spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
    base = mkdtempSync(join(tmpdir(), 'gatehouse-image-'));
    app = join(base, 'app');
    config = join(base, 'etc-gatehouse');
    mkdirSync(app);
    mkdirSync(config);
    // The runtime stage's COPY instructions, from the build context (the repository) or the build stage,
    // whose WORKDIR holds what `npm run build` made: the repository's dist/.
    for (const copy of instructionsOf(runtime, 'COPY').map(copyOf)) {
      for (const source of copy.sources) {
        const from = copy.from === undefined ? join(ROOT, source) : join(ROOT, posix.relative(workdirOf(build), source));
        const destination = posix.resolve(workdirOf(runtime), copy.destination);
        assert.ok(destination.startsWith('/app'), `${copy.destination} is inside the WORKDIR`);
        // Docker: a file copied to a folder (a destination ending in /, or several sources) keeps its name;
        // a folder's contents are copied into the destination.
        const intoFolder = copy.destination.endsWith('/') || copy.sources.length > 1;
        const target = join(app, posix.relative('/app', destination), intoFolder && !statSync(from).isDirectory() ? posix.basename(source) : '');
        cpSync(from, target, { recursive: true });
      }
    }
    const ci = npmCommands(runtime).find((words) => words[1] === 'ci') ?? [];
    // --prefer-offline only reads the npm cache first; what is installed is the same.
    // Without the npm_* variables of an enclosing `npm test`: this install is about the temporary folder only.
    const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
    await run('npm', [...ci.slice(1), '--prefer-offline'], { cwd: app, env: { ...npmEnv, NODE_ENV: 'production' }, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    provider = await startFakeProvider();
    // The ConfigMap's gatehouse.yaml where the Deployment mounts it.
    const configMap = readYamlDocuments(join(MANIFESTS, 'configmap.yaml'))[0];
    const text = objectAt(configMap, 'data')['gatehouse.yaml'];
    assert.equal(typeof text, 'string', 'configmap.yaml has data.gatehouse.yaml');
    writeFileSync(join(config, 'gatehouse.yaml'), String(text));
    before_ = snapshot(app);
  });

  after(async () => {
    for (const child of started) await child.stop(3000);
    await provider.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('holds exactly the copied files and the production dependencies', () => {
    assert.deepEqual(readdirSync(app).sort(), ['dist', 'node_modules', 'package-lock.json', 'package.json', 'schema']);
    for (const name of Object.keys(PACKAGE.dependencies)) assert.ok(existsSync(join(app, 'node_modules', name, 'package.json')), `${name} is installed`);
    for (const name of [...DEV_ONLY, ...Object.keys(PACKAGE.devDependencies)]) assert.equal(existsSync(join(app, 'node_modules', name)), false, `${name} (a devDependency) is not installed`);
    assert.equal(existsSync(join(app, 'node_modules', '.bin', 'tsc')), false);
  });

  test('node dist/cli/bin.js --version prints the package version', () => {
    const [command = 'node', ...rest] = entrypoint;
    const result = spawnSync(command === 'node' ? process.execPath : command, [...rest, '--version'], { cwd: app, env: imageEnv(), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), PACKAGE.version);
  });

  test('serve with the Kubernetes configuration: /ping 200, /ready 200 once the provider is discovered, SIGTERM exits 0', async (t) => {
    // deployment.yaml's arguments and Secret environment; only the addresses differ: loopback, a free
    // port, and the loopback provider instead of Auth0 (flags win over the file and the environment).
    const deployment = readYamlDocuments(join(MANIFESTS, 'deployment.yaml'))[0];
    const args = (at(deployment, 'spec.template.spec.containers.0.args') as string[]).map((arg) => (arg === '/etc/gatehouse/gatehouse.yaml' ? join(config, 'gatehouse.yaml') : arg));
    assert.deepEqual(args.slice(0, 2), ['serve', '--config']);
    const env = imageEnv({ OAUTH2_PROXY_CLIENT_ID: 'gatehouse-test', OAUTH2_PROXY_CLIENT_SECRET: 'client-secret-for-tests', OAUTH2_PROXY_COOKIE_SECRET: cookieSecret() });
    const { process: child, port } = await start('gatehouse-k8s', [...args, '--listen=127.0.0.1:0', '--metrics.listen=127.0.0.1:0', `--provider.issuer=${provider.issuer}`], env);
    assert.deepEqual(await get(port, '/ping'), { status: 200, body: 'OK' });
    const ready = await readyWithin(port, 10_000);
    assert.equal(ready.status, 200, ready.body);
    assert.ok((provider.hits.get('/.well-known/openid-configuration') ?? 0) >= 1, 'discovery ran');
    const metrics = /"address":"127\.0\.0\.1:(\d+)"[^\n]*"msg":"metrics listening"/.exec(child.output());
    if (metrics !== null) {
      const scraped = await get(Number(metrics[1]), '/metrics');
      assert.equal(scraped.status, 200);
      assert.match(scraped.body, /^# (HELP|TYPE) /m);
      t.diagnostic('metrics: GET /metrics on the metrics listener answered 200');
    } else {
      t.diagnostic('metrics: this build has no metrics listener yet; only its warning was checked');
      assert.match(child.output(), /metrics\.listen is set, but this version has no metrics listener yet/, `neither a metrics listener nor the warning:\n${child.output()}`);
    }
    assert.equal(await stop(child), 0, child.output());
    assert.match(child.output(), /"msg":"stopped"/);
  });

  test("Traefik's checks against the Kubernetes configuration: the device token on vminsert, the login redirect elsewhere", async () => {
    // The seed's private key is not public: the same profile with a fresh key under the same kid.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
    const original = readFileSync(join(config, 'gatehouse.yaml'), 'utf8');
    const block = /( +)-----BEGIN EC PUBLIC KEY-----\n[\s\S]*?-----END EC PUBLIC KEY-----/.exec(original);
    assert.ok(block !== null, 'the ConfigMap holds the seed key');
    const indent = block[1] ?? '';
    const file = join(config, 'gatehouse-test-key.yaml');
    writeFileSync(file, original.replace(block[0], pem.split('\n').map((line) => `${indent}${line}`).join('\n')));
    const sign = (payload: object) => {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const input = `${encode({ alg: 'ES256', typ: 'JWT', kid: 'vicmet' })}.${encode(payload)}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    // The seed's payload, as made on jwt.io.
    const seedPayload = { iss: 'https://jwts.farcaller.net', sub: 'homekit', aud: 'vminsert.homelab.example.com', iat: 1719591241, exp: 2540042041 };
    const env = imageEnv({ OAUTH2_PROXY_CLIENT_ID: 'gatehouse-test', OAUTH2_PROXY_CLIENT_SECRET: 'client-secret-for-tests', OAUTH2_PROXY_COOKIE_SECRET: cookieSecret() });
    // Traefik's pod network is 10.42.0.0/16; here Traefik is this test process on loopback.
    const { process: child, port } = await start('gatehouse-traefik', ['serve', '--config', file, '--listen=127.0.0.1:0', '--metrics.listen=127.0.0.1:0', `--provider.issuer=${provider.issuer}`, '--proxy.trusted=127.0.0.1/32'], env);
    assert.equal((await readyWithin(port, 10_000)).status, 200);
    /** A forward-auth request as Traefik sends it to the middleware address (the root path). */
    const check = async (method: string, url: string, headers: Record<string, string> = {}) => {
      const target = new URL(url);
      const response = await rawRequest(port, '/', { 'x-forwarded-method': method, 'x-forwarded-proto': 'https', 'x-forwarded-host': target.host, 'x-forwarded-uri': `${target.pathname}${target.search}`, 'x-forwarded-for': '192.168.1.20', ...headers });
      const header = (name: string) => {
        const value = response.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      return { status: response.status, header };
    };
    const device = await check('POST', 'https://vminsert.homelab.example.com/api/v1/import', { authorization: `Bearer ${sign(seedPayload)}` });
    assert.equal(device.status, 202, `${String(device.header('x-gatehouse-reason'))}\n${child.output()}`);
    const anonymous = await check('POST', 'https://vminsert.homelab.example.com/api/v1/import', { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(anonymous.status, 401, 'a device route never redirects to a login');
    assert.equal(anonymous.header('location'), undefined);
    // A valid token for another audience: 403; 401 when it is older than the profile's freshness (3600 s),
    // as jwt-middleware does, so a client with an old token fetches a new one.
    const otherAudience = { ...seedPayload, aud: 'vmselect.homelab.example.com', iat: Math.floor(Date.now() / 1000) - 60 };
    assert.equal((await check('POST', 'https://vminsert.homelab.example.com/api/v1/import', { authorization: `Bearer ${sign(otherAudience)}` })).status, 403);
    assert.equal((await check('POST', 'https://vminsert.homelab.example.com/api/v1/import', { authorization: `Bearer ${sign({ ...otherAudience, iat: seedPayload.iat })}` })).status, 401);
    const browser = await check('GET', 'https://grafana.homelab.example.com/d/home', { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(browser.status, 302, browser.header('x-gatehouse-reason'));
    const login = new URL(browser.header('location') ?? '');
    assert.equal(`${login.origin}${login.pathname}`, 'https://grafana.homelab.example.com/oauth2/start', 'skipProviderButton: straight to the login, on the same host');
    assert.equal(login.searchParams.get('rd'), 'https://grafana.homelab.example.com/d/home');
    // Traefik's /oauth2/ route sends that to gatehouse; gatehouse sends the browser to the provider.
    const started_ = await rawRequest(port, `${login.pathname}${login.search}`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': login.host, 'x-forwarded-for': '192.168.1.20', accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(started_.status, 302);
    const location = started_.headers.location;
    const authorize = new URL(typeof location === 'string' ? location : '');
    assert.equal(`${authorize.origin}${authorize.pathname}`, `${provider.issuer}authorize`);
    assert.equal(authorize.searchParams.get('redirect_uri'), 'https://grafana.homelab.example.com/oauth2/callback');
    assert.deepEqual(authorize.searchParams.get('scope')?.split(' '), ['openid', 'email', 'profile', 'offline_access']);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(await stop(child), 0, child.output());
  });

  test('oauth2-proxy style: flags alone run serve (docker run image --provider=oidc ... --upstream=static://202)', async () => {
    const env = imageEnv();
    const { process: child, port } = await start(
      'gatehouse-flags',
      [
        // The first argument is a flag, not a command: main() runs serve, as oauth2-proxy starts.
        '--upstream=static://202',
        '--provider=oidc',
        `--oidc-issuer-url=${provider.issuer}`,
        '--client-id=gatehouse-test',
        '--client-secret=client-secret-for-tests',
        `--cookie-secret=${cookieSecret()}`,
        '--email-domain=farcaller.net',
        '--reverse-proxy',
        '--http-address=127.0.0.1:0',
      ],
      env,
    );
    assert.equal((await get(port, '/ping')).status, 200);
    assert.equal((await readyWithin(port, 10_000)).status, 200);
    assert.equal(await stop(child), 0, child.output());
  });

  test('development mode from the production install: oidc-provider is a production dependency', async () => {
    const { process: child, port } = await start('gatehouse-dev', ['serve', '--listen=127.0.0.1:0'], imageEnv());
    assert.match(child.output(), /DEVELOPMENT/);
    assert.equal((await get(port, '/ping')).status, 200);
    assert.equal((await readyWithin(port, 10_000)).status, 200);
    assert.equal(await stop(child), 0, child.output());
  });

  test("without a provider the image's 0.0.0.0 listener refuses development mode (exit 78) before listening", () => {
    const [command = 'node', ...rest] = entrypoint;
    const result = spawnSync(command === 'node' ? process.execPath : command, [...rest, ...lastOf(runtime, 'CMD')], { cwd: app, env: imageEnv(), encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 78, result.stderr);
    assert.match(result.stderr, /ERR_CONFIG_DEV_PROVIDER_EXPOSED/);
  });

  test('the Redis variant (deploy/kubernetes/redis) starts and is ready against a real Redis', async (t) => {
    const redisServer = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
    if (redisServer === '') {
      t.skip('redis-server is not installed (.ci/run installs it)');
      return;
    }
    const patch = readYamlDocuments(join(MANIFESTS, 'redis', 'gatehouse-redis-patch.yaml'))[0];
    const patchEnv = at(patch, 'spec.template.spec.containers.0.env') as { name: string; value?: string }[];
    const password = 'redis-password-for-tests';
    const redisPort = await freePort();
    const redisDir = join(base, 'redis');
    mkdirSync(redisDir);
    const redis = spawnLogged('redis', redisServer, ['--bind', '127.0.0.1', '--port', String(redisPort), '--requirepass', password, '--save', '', '--appendonly', 'no', '--dir', redisDir]);
    started.push(redis);
    try {
      await redis.waitForOutput(/Ready to accept connections/i, 10_000);
      const env: Record<string, string> = {};
      for (const entry of patchEnv) env[entry.name] = entry.value ?? password;
      // The manifest's Service address, moved to the loopback Redis.
      assert.match(env.GATEHOUSE_SESSION_REDIS_URL ?? '', /^redis:\/\/gatehouse-redis\.gatehouse\.svc\.cluster\.local:6379$/);
      env.GATEHOUSE_SESSION_REDIS_URL = `redis://127.0.0.1:${redisPort}`;
      const { process: child, port } = await start(
        'gatehouse-redis',
        ['serve', '--config', join(config, 'gatehouse.yaml'), '--listen=127.0.0.1:0', '--metrics.listen=127.0.0.1:0', `--provider.issuer=${provider.issuer}`],
        imageEnv({ OAUTH2_PROXY_CLIENT_ID: 'gatehouse-test', OAUTH2_PROXY_CLIENT_SECRET: 'client-secret-for-tests', OAUTH2_PROXY_COOKIE_SECRET: cookieSecret(), ...env }),
      );
      const ready = await readyWithin(port, 10_000);
      assert.equal(ready.status, 200, `${ready.body}\n${child.output()}`);
      assert.equal(await stop(child), 0, child.output());
    } finally {
      await redis.stop(3000);
    }
  });

  test('nothing was written in the app folder (read-only root file system)', () => {
    const now = snapshot(app);
    const changed = [...new Set([...before_.keys(), ...now.keys()])].filter((path) => before_.get(path) !== now.get(path));
    assert.deepEqual(changed, []);
  });
});
