// Type-aware lint: the rules that matter most on an appliance are the ones that catch
// forgotten promises (a floating promise is an unhandled rejection waiting to happen).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '.*.cjs', 'test/helpers/fixtures/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        { object: 'it', property: 'only', message: 'A focused test silently skips the rest of the suite.' },
        { object: 'describe', property: 'only', message: 'A focused test silently skips the rest of the suite.' },
        { object: 'test', property: 'only', message: 'A focused test silently skips the rest of the suite.' },
      ],
    },
  },
  {
    // Only the composer names a part's logger: a second `module` key makes a line whose JSON
    // reads differently in each tool (jq keeps the last, others the first or both).
    files: ['src/**/*.ts'],
    ignores: ['src/app/compose.ts', 'src/service.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='child'] > ObjectExpression > Property[key.name='module']",
          message: 'Name loggers in src/app/compose.ts only; use another key (e.g. `child`, `path`) for context.',
        },
      ],
    },
  },
  {
    // Plain-JS fixtures and config files: linted, but without type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { ...globals.node } },
  },
  {
    // The page runs in the browser.
    files: ['src/http/web/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
