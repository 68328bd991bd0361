import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Folder boundaries (design.md, "Folders"): an import that climbs out of its folder
 * (`../`, `../../`, ...) into one of `folders` is refused. Imports are relative (no path
 * aliases), so the specifier says where it lands.
 */
function forbidFolders(folders, why) {
  return {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(\\.\\./)+(${folders.join('|')})(/|$)`,
            message: why,
          },
        ],
      },
    ],
  };
}
const notTests = 'product code does not import bench/ or test/';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['proxy/**'],
    rules: forbidFolders(
      ['handler', 'bench', 'test'],
      `proxy/ imports only src/ (a message type in src/ipc crosses to the handler); ${notTests}`,
    ),
  },
  {
    files: ['handler/**'],
    rules: forbidFolders(
      ['proxy', 'bench', 'test'],
      `handler/ imports only src/ (a message type in src/ipc crosses to the proxy); ${notTests}`,
    ),
  },
  {
    files: ['src/**'],
    rules: forbidFolders(
      ['proxy', 'handler', 'bench', 'test'],
      `src/ is shared by both processes and imports neither proxy/ nor handler/; ${notTests}`,
    ),
  },
  { files: ['bin/**'], rules: forbidFolders(['bench', 'test'], notTests) },
  { files: ['bin/**', 'bench/**', 'examples/**'], rules: { 'no-console': 'off' } },
  // Plain JavaScript entry: TypeScript is not there to know Node's globals.
  { files: ['bin/**'], languageOptions: { globals: { process: 'readonly', URL: 'readonly' } } },
);
