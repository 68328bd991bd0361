import { describe, expect, it } from 'vitest';
import { CorkSlot } from '../../../proxy/cork-slot.js';

/** A uWS socket's cork as far as CorkSlot sees it: the callback runs at once. */
const corkable = { cork: (callback: () => void) => callback() };

describe('CorkSlot', () => {
  it('writes for the target given to each run', () => {
    const written: string[] = [];
    const slot = new CorkSlot<string>((target) => written.push(target));
    slot.run(corkable, 'a');
    slot.run(corkable, 'b');
    expect(written).toEqual(['a', 'b']);
  });

  it('a run started inside another does not change the outer target', () => {
    const written: string[] = [];
    const slot: CorkSlot<string> = new CorkSlot<string>((target) => {
      if (target === 'outer') slot.run(corkable, 'inner');
      written.push(target);
    });
    slot.run(corkable, 'outer');
    expect(written).toEqual(['inner', 'outer']);
  });

  it('a write that throws leaves the slot as it was', () => {
    const written: string[] = [];
    const slot = new CorkSlot<string>((target) => {
      if (target === 'bad') throw new Error('write failed');
      written.push(target);
    });
    expect(() => slot.run(corkable, 'bad')).toThrow('write failed');
    slot.run(corkable, 'good');
    expect(written).toEqual(['good']);
  });
});
