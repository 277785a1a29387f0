// ESLint 9 flat config: typescript-eslint's recommended type-checked rules with the
// project's tsconfig (typed linting), and the promise rules as errors: every
// fire-and-forget promise is either awaited, handled with .catch(), or marked
// `void` with a comment saying why nothing waits for it.
import eslint from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'build/', 'build-sanitize/', 'node_modules/', '.tap/']),
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // tap's t.test() returns its subtest's promise; tap itself queues the subtest,
          // waits for it before the parent ends and reports its failures, so the
          // documented `t.test(name, fn)` statement is not a forgotten promise.
          allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // Rejecting with a caught `unknown` passes the original error on unchanged.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Same convention as tsc's noUnusedParameters: a leading underscore marks a name kept on purpose.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tap ends a subtest when its callback's promise settles, so test callbacks are
      // async even when they never await; dropping `async` would leave them waiting
      // for a t.end() that is not there.
      '@typescript-eslint/require-await': 'off',
      // Tests read JSON documents (/status, /metrics parsed, fake API server objects
      // typed `any` on purpose) and check their shape with t.match / t.same; typing
      // every field access would repeat those assertions.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    // Plain JavaScript (the bin stub, the test responder, this file) is outside tsconfig.json.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
