import { describe, expect, it } from 'vitest';
import { findJsonErrorPosition } from './json-error-position.js';

describe('findJsonErrorPosition', () => {
  it('accepts exactly what JSON.parse accepts on a sample of valid and invalid texts', () => {
    const samples = [
      '{}',
      ' [1, -2.5e+3, "a\\u00e9\\n", true, false, null, {"k": [{}]}] ',
      '{"a": }',
      '{"a": 1',
      '',
      '{"a":1}x',
      '[1,\n2,,3]',
      '[01]',
      '["tab\there"]',
      '["\\x"]',
      '{"a" 1}',
      '{,}',
      '[1 2]',
      '-',
      '"unterminated',
      'nul',
      '{"a": [1, 2], "b": {"c": "\\ud83d\\ude00"}}',
    ];
    for (const text of samples) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(findJsonErrorPosition(text) === undefined, text).toBe(valid);
    }
  });

  it('points at the offending character with 1-based line and column', () => {
    expect(findJsonErrorPosition('{"a": }')).toEqual({ offset: 6, line: 1, column: 7 });
    expect(findJsonErrorPosition('[1,\n2,,3]')).toEqual({ offset: 6, line: 2, column: 3 });
    expect(findJsonErrorPosition('{"a":1}x')).toEqual({ offset: 7, line: 1, column: 8 });
    // Unexpected end of input points just past the end.
    expect(findJsonErrorPosition('{"a": [1,\n 2')).toEqual({ offset: 12, line: 2, column: 3 });
    expect(findJsonErrorPosition('')).toEqual({ offset: 0, line: 1, column: 1 });
  });
});
