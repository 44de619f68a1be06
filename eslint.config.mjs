// ESLint flat config: typescript-eslint's type-checked rules, an import-cycle rule, Prettier for layout.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.local/**',
      '.package/**',
      'test-artifacts/**',
      'bench-results/**',
      '**/*.cjs',
      'jest.config.js',
      'eslint.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    // Without a resolver and an extension list that know .ts, import-x follows no project import, and its
    // rules (no-cycle, no-restricted-paths) check nothing: they did not, before these settings.
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      // The layers of ARCHITECTURE.md, as rules: imports point down, leaves import nothing of the service.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './shared', from: ['./functions', './scripts', './web'], message: 'shared/ is below functions/, scripts/ and web/.' },
            {
              target: ['./shared/storage', './shared/crypto'],
              from: [
                './shared/recoveryKeys',
                './shared/audit',
                './shared/http',
                './shared/auth',
                './shared/keyImport',
                './shared/entraMirror',
              ],
              message: 'Storage and crypto are below the use cases and the edge.',
            },
            {
              target: ['./shared/recoveryKeys/store.ts', './shared/recoveryKeys/deviceIndex.ts', './shared/audit/store.ts'],
              from: ['./shared/http', './shared/auth'],
              message: 'A store knows tables, not requests.',
            },
            {
              target: ['./shared/errors', './shared/text', './shared/runs', './shared/revealReasons.ts', './shared/storage/layout.ts'],
              from: ['./shared/recoveryKeys', './shared/audit', './shared/http', './shared/auth', './shared/odata', './shared/keyImport'],
              message: 'A leaf imports nothing of the service above it.',
            },
            { target: './functions', from: ['./scripts'], message: 'The app does not load the local tools.' },
          ],
        },
      ],
      // A leading underscore is this codebase's mark for "unused on purpose": members dropped by
      // destructuring (`const { etag: _etag, ...entity } = row`) and loop variables that only count.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  prettier,
);
