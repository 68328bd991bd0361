import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  { files: ['bin/**', 'bench/**', 'examples/**'], rules: { 'no-console': 'off' } },
  // Plain JavaScript entry: TypeScript is not there to know Node's globals.
  { files: ['bin/**'], languageOptions: { globals: { process: 'readonly', URL: 'readonly' } } },
);
