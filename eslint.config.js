// @ts-check
/**
 * Lint: the recommended rules, unhandled promises, and the direction of dependencies inside src/
 * (style §1 and §4), which test/architecture.test.ts proves this config enforces.
 */
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Drivers and frameworks: the protocol and the core stay testable without sockets or SQL. */
const DRIVERS = ['ws', 'fastify', 'pg', '@electric-sql/pglite', 'ioredis', 'pino', 'prom-client'];

const drivers = {
  group: DRIVERS.flatMap((name) => [name, `${name}/*`]),
  message: 'src/protocol and src/core import no driver or framework (style §1).',
};

/** Implementations of the ports: only the composition root (src/build.ts) picks them. */
const implementations = {
  regex: String.raw`(^|/)(bus/(memory|redis)|presence/(memory|redis)|store/(db-pg|db-pglite|sql-store))\.js$`,
  caseSensitive: true,
  message: 'Import the port (bus/bus.ts, presence/presence.ts, store/store.ts); only src/build.ts imports implementations (style §4).',
};

/** The core sees the other layers only through their ports. */
const adapters = {
  regex: String.raw`^\.\./(transport|http)/|^\.\./(metrics|build|main)\.js$`,
  caseSensitive: true,
  message: 'src/core knows no transport, HTTP or composition code; they call it (style §1).',
};

/** The protocol is pure data: its own files, the error registry and Node built-ins. */
const protocolOnly = {
  regex: String.raw`^(?!\./|node:|\.\./errors\.js$)`,
  caseSensitive: true,
  message: 'src/protocol imports nothing outside itself but ../errors.js and node: built-ins (style §1).',
};

export default defineConfig(
  globalIgnores(['dist/', 'coverage/', '.massenger/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        // Each file is typed by its own tsconfig (root, web/); the config files belong to none.
        projectService: { allowDefaultProject: ['eslint.config.js', 'knip.config.ts', 'vitest.config.ts', 'web/vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // `_name` marks a parameter a port requires but a variant ignores; rest siblings omit keys from a copy.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests, scripts and the benchmark read frames and HTTP bodies as parsed JSON; their assertions,
    // not static types, check the shape, so `any` there is the honest type.
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  // A later block replaces an earlier one's options for the same rule, so each folder lists all of its own.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/build.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [implementations] }] },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [drivers, implementations, adapters] }] },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [protocolOnly] }] },
  },
);
