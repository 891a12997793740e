// ESLint flat config: the recommended rules of ESLint and typescript-eslint over the TypeScript tree,
// with typescript-eslint's type-checked set (each file is checked against its nearest tsconfig:
// tsconfig.json for src/test/bench/fuzz/scripts, ui/tsconfig.json for the dashboard).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
      // A closure that reads a variable assigned later (a timer, a late-bound instance) needs `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Off: many functions are `async` without an `await` on purpose: they implement an interface
      // that returns a promise (stores, handlers, Fastify routes), and `async` turns a throw into a
      // rejection the caller already handles. Dropping `async` would change that contract.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    // Tests and benches read JSON answers and poke at internals through `any` on purpose; the
    // no-unsafe-* rules would only restate that choice at every use.
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  // Plain JavaScript (this file, ui/build.mjs, scripts/*.mjs) is in no tsconfig: syntax rules only.
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
