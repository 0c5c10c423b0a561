/** Jest transpiles TypeScript with SWC (ts-jest needs the TypeScript compiler API, which TypeScript 7 no longer ships). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  // Sources import siblings as './x.js' (Node ESM); Jest resolves the .ts file.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 30000,
  maxWorkers: 2,
  // Coverage of the code in the workers; test/coverage-reporter.cjs adds the child processes'
  // and enforces the floor.
  collectCoverage: true,
  coverageProvider: 'v8',
  collectCoverageFrom: ['{wire,shim,server,adapters,gc,lambda-layer,lambda-local,infra,bin}/**/*.ts'],
  coverageReporters: ['json'],
  reporters: ['default', '<rootDir>/test/coverage-reporter.cjs'],
  globalSetup: '<rootDir>/test/global-setup.cjs',
  globalTeardown: '<rootDir>/test/global-teardown.cjs',
};
