/** Where a JSON text stops being valid: 0-based offset and 1-based line and column. */
export interface JsonErrorPosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/**
 * Finds the first offset at which `text` is not valid JSON (RFC 8259), or undefined when it is valid. V8's
 * `JSON.parse` messages only sometimes carry a position ("Unexpected token '}', "…" is not valid JSON" carries none),
 * and a user with a hand-edited `model.json` needs the line and column, so we scan the text ourselves.
 */
export function findJsonErrorPosition(text: string): JsonErrorPosition | undefined {
  const scanner = new Scanner(text);
  const offset = scanner.scanDocument();
  return offset === undefined ? undefined : toPosition(text, offset);
}

function toPosition(text: string, offset: number): JsonErrorPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

/** A recursive-descent recogniser: each method returns true when it consumed a valid production. */
class Scanner {
  private pos = 0;
  private errorAt: number | undefined;

  constructor(private readonly text: string) {}

  scanDocument(): number | undefined {
    this.skipWhitespace();
    if (!this.value()) return this.errorAt ?? this.pos;
    this.skipWhitespace();
    return this.pos < this.text.length ? this.pos : undefined;
  }

  private fail(): false {
    this.errorAt ??= this.pos;
    return false;
  }

  private skipWhitespace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) this.pos++;
  }

  private value(): boolean {
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const literal of ['true', 'false', 'null']) {
      if (this.text.startsWith(literal, this.pos)) {
        this.pos += literal.length;
        return true;
      }
    }
    return this.fail();
  }

  private object(): boolean {
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return true;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"' || !this.string()) return this.fail();
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') return this.fail();
      this.pos++;
      this.skipWhitespace();
      if (!this.value()) return false;
      this.skipWhitespace();
      const c = this.text[this.pos];
      this.pos++;
      if (c === '}') return true;
      if (c !== ',') {
        this.pos--;
        return this.fail();
      }
    }
  }

  private array(): boolean {
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return true;
    }
    for (;;) {
      this.skipWhitespace();
      if (!this.value()) return false;
      this.skipWhitespace();
      const c = this.text[this.pos];
      this.pos++;
      if (c === ']') return true;
      if (c !== ',') {
        this.pos--;
        return this.fail();
      }
    }
  }

  private string(): boolean {
    this.pos++;
    while (this.pos < this.text.length) {
      const code = this.text.charCodeAt(this.pos);
      if (code === 0x22) {
        this.pos++;
        return true;
      }
      if (code < 0x20) return this.fail();
      if (code === 0x5c) {
        const next = this.text[this.pos + 1];
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) {
            this.pos++;
            return this.fail();
          }
          this.pos += 6;
          continue;
        }
        if (next === undefined || !'"\\/bfnrt'.includes(next)) {
          this.pos++;
          return this.fail();
        }
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    return this.fail();
  }

  private number(): boolean {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(
      this.text.slice(this.pos, this.pos + 400),
    );
    if (!match) return this.fail();
    this.pos += match[0].length;
    return true;
  }
}
