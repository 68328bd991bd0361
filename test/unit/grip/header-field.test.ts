import { describe, expect, it } from 'vitest';
import {
  headerFieldProblem,
  isGripRequestHeader,
  reasonPhraseProblem,
} from '../../../src/grip/header-field.js';

describe('headerFieldProblem', () => {
  const cases: [string, string, string, string | undefined][] = [
    ['a plain header', 'X-Thing', 'value', undefined],
    ['token punctuation in the name', "A!#$%&'*+-.^_`|~9", 'v', undefined],
    ['obs-text and tabs in the value', 'X-A', 'caf\u00e9\tok', undefined],
    ['an empty value', 'X-A', '', undefined],
    [
      'CR LF in the value',
      'X-A',
      'v\r\nSet-Cookie: evil=1',
      "header 'X-A' has a value with a CR, LF or NUL character",
    ],
    [
      'a bare LF in the value',
      'X-A',
      'v\nX-B: 1',
      "header 'X-A' has a value with a CR, LF or NUL character",
    ],
    ['NUL in the value', 'X-A', 'v\0', "header 'X-A' has a value with a CR, LF or NUL character"],
    ['an empty name', '', 'v', 'header name "" is not a token'],
    ['a space in the name', 'X A', 'v', 'header name "X A" is not a token'],
    ['a colon in the name', 'X-A:', 'v', 'header name "X-A:" is not a token'],
    ['CR LF in the name', 'X\r\nY', 'v', 'header name "X\\r\\nY" is not a token'],
  ];
  it.each(cases)('%s', (_label, name, value, expected) => {
    expect(headerFieldProblem(name, value)).toBe(expected);
  });
});

describe('reasonPhraseProblem', () => {
  it.each([
    ['OK', undefined],
    ['Not Found, sorry', undefined],
    ['OK\r\nX-Injected: 1', 'reason has a CR, LF or NUL character'],
    ['OK\n', 'reason has a CR, LF or NUL character'],
  ])('%j', (reason, expected) => {
    expect(reasonPhraseProblem(reason)).toBe(expected);
  });
});

describe('isGripRequestHeader', () => {
  it.each([
    ['grip-sig', true],
    ['grip-', true],
    ['grip_sig', true],
    ['gripper', false],
    ['grip', false],
    ['x-grip-sig', false],
  ])('%s: %s', (name, expected) => {
    expect(isGripRequestHeader(name)).toBe(expected);
  });
});
