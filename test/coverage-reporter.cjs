// Coverage of everything the tests run, child processes included, with a floor.
//
// Jest measures the code it runs in its own workers (V8 coverage, mapped through SWC's source
// maps). Child processes (`aft serve`, `aft gc`, `aft storage init`, `aft lambda-local` and the
// functions it runs, the layer build) run dist/ as plain Node: test/global-setup.cjs points
// NODE_V8_COVERAGE at coverage/processes, so each writes its V8 coverage there when it exits
// (one killed with SIGKILL writes none). After the run this reporter maps those through the
// TypeScript source maps, merges them with Jest's, prints the totals, and fails the run when
// lines or functions fall below the floor.
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { fileURLToPath, pathToFileURL } = require('node:url');
const { createCoverageMap } = require('istanbul-lib-coverage');
const v8ToIstanbul = require('v8-to-istanbul');

const ROOT = join(__dirname, '..');
/**
 * The floor, in percent: under what the suite reaches (lines 75-78%, functions 60-69% on
 * 2026-11-27, server/ and wire/ counted; V8 counts every arrow function; SIGKILLed processes
 * report nothing, so a run varies by a point or two), so a real loss fails CI and a noisy
 * run does not.
 */
const FLOOR = { lines: 72, functions: 58 };
const SOURCES = /^(wire|shim|server|adapters|gc|lambda-layer|lambda-local|infra|bin)\//;

class MergedCoverageReporter {
  constructor() {
    this.error = undefined;
  }

  async onRunComplete() {
    const map = createCoverageMap({});
    const inProcess = join(ROOT, 'coverage', 'coverage-final.json');
    if (existsSync(inProcess)) map.merge(JSON.parse(readFileSync(inProcess, 'utf8')));
    const processes = join(ROOT, 'coverage', 'processes');
    const dist = pathToFileURL(join(ROOT, 'dist')).href;
    let files = 0;
    for (const name of existsSync(processes) ? readdirSync(processes) : []) {
      const { result } = JSON.parse(readFileSync(join(processes, name), 'utf8'));
      for (const script of result) {
        if (!script.url.startsWith(`${dist}/`) || script.url.includes('/dist/test/')) continue;
        const converter = v8ToIstanbul(fileURLToPath(script.url));
        await converter.load();
        converter.applyCoverage(script.functions);
        map.merge(converter.toIstanbul());
      }
      files += 1;
    }
    map.filter((file) => SOURCES.test(file.slice(ROOT.length + 1)));
    const summary = map.getCoverageSummary();
    const pct = (metric) => summary[metric].pct;
    process.stdout.write(
      `coverage (${map.files().length} files; ${files} process dumps): lines ${pct('lines')}%, ` +
        `statements ${pct('statements')}%, functions ${pct('functions')}%, branches ${pct('branches')}%\n`,
    );
    const low = Object.entries(FLOOR).filter(([metric, floor]) => pct(metric) < floor);
    if (low.length > 0) {
      this.error = new Error(
        `coverage under its floor: ${low.map(([metric, floor]) => `${metric} ${pct(metric)}% < ${floor}%`).join(', ')}`,
      );
      // Jest fails the run on a reporter's error without showing it: say why here.
      process.stderr.write(`${this.error.message} (test/coverage-reporter.cjs)\n`);
    }
  }

  getLastError() {
    return this.error;
  }
}

module.exports = MergedCoverageReporter;
