import { describe, expect, it } from 'vitest';
import { isPublishAction, isWsMessageType } from '../../../src/grip/publish-types.js';

describe('isPublishAction', () => {
  it.each(['send', 'hint', 'close', 'refresh'])('accepts %s', (value) => {
    expect(isPublishAction(value)).toBe(true);
  });
  it.each<[string, unknown]>([
    ['another case', 'Send'],
    ['an empty string', ''],
    ['a WebSocket type', 'text'],
    ['undefined', undefined],
    ['a number', 0],
  ])('refuses %s', (_name, value) => {
    expect(isPublishAction(value)).toBe(false);
  });
});

describe('isWsMessageType', () => {
  it.each(['text', 'binary', 'ping', 'pong'])('accepts %s', (value) => {
    expect(isWsMessageType(value)).toBe(true);
  });
  it.each<[string, unknown]>([
    ['another case', 'Text'],
    ['an empty string', ''],
    ['an action', 'close'],
    ['null', null],
    ['a number', 1],
  ])('refuses %s', (_name, value) => {
    expect(isWsMessageType(value)).toBe(false);
  });
});
