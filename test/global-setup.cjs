// Before any test: build dist/ (tests that run the `aft` command or spawn adapter processes
// need it), then start the storage servers that the engine-parametrized suites use, on free
// ports of 127.0.0.1. Their URLs reach the test workers as AFT_TEST_* variables, and
// test/global-teardown.cjs stops them. The server launchers are imported from dist/ because
// they are shared with the benchmarks (bench/), which run from there.
const { execFileSync } = require('node:child_process');
const { chmodSync, readdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

module.exports = async () => {
  // The AWS SDK's notice that its future versions need Node 22 would fill every test's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const root = join(__dirname, '..');
  // Every child process writes its V8 coverage here as it exits (test/coverage-reporter.cjs).
  const processCoverage = join(root, 'coverage', 'processes');
  rmSync(processCoverage, { recursive: true, force: true });
  process.env.NODE_V8_COVERAGE = processCoverage;
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  // The commands must be executable (tsc writes new files without the mode bits): `npx aft`
  // runs dist/bin/aft.js through its bin link.
  for (const name of readdirSync(join(root, 'dist', 'bin')))
    chmodSync(join(root, 'dist', 'bin', name), 0o755);
  const { startTestServers } = await import(
    pathToFileURL(join(root, 'dist', 'test', 'servers', 'all.js')).href
  );
  const servers = await startTestServers();
  Object.assign(process.env, servers.env);
  globalThis.aftTestServers = servers;
};
