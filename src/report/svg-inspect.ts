/**
 * A small, strict XML reader for checking rendered SVG in tests (and in the browser tests of reports): it rejects
 * unbalanced tags, raw `<` or stray `&` in text, and duplicate attributes, and counts Vega marks by name.
 */

/** One element of a parsed document. */
export interface SvgElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: SvgElement[];
}

const TAG = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTRIBUTE = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
const ENTITY = /^&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);/;

/** Parses an XML document, throwing on the first well-formedness error it finds; returns the root element. */
export function parseXml(text: string): SvgElement {
  const root: SvgElement = { name: '#document', attributes: {}, children: [] };
  const stack: SvgElement[] = [root];
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    checkText(text.slice(i, lt < 0 ? text.length : lt), i);
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt);
      if (end < 0) throw new Error(`unterminated comment at ${lt}`);
      i = end + 3;
      continue;
    }
    if (text.startsWith('<?', lt) || text.startsWith('<!DOCTYPE', lt)) {
      const end = text.indexOf('>', lt);
      i = end + 1;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(text);
    if (!m) throw new Error(`malformed tag at ${lt}: ${text.slice(lt, lt + 40)}`);
    const [, closing, name, attrs, selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> at ${lt} closes <${open?.name}>`);
    } else {
      const attributes: Record<string, string> = {};
      for (const a of attrs.matchAll(ATTRIBUTE)) {
        if (a[1] in attributes) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
        const value = a[2] ?? a[3];
        checkText(value.replace(/</g, '\u0000'), lt);
        attributes[a[1]] = value;
      }
      const element: SvgElement = { name, attributes, children: [] };
      stack[stack.length - 1].children.push(element);
      if (!selfClosing) stack.push(element);
    }
    i = TAG.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (root.children.length !== 1) throw new Error(`expected one root element, found ${root.children.length}`);
  return root.children[0];
}

function checkText(text: string, offset: number): void {
  if (text.includes('\u0000')) throw new Error(`raw '<' in an attribute near ${offset}`);
  for (let j = text.indexOf('&'); j >= 0; j = text.indexOf('&', j + 1)) {
    if (!ENTITY.test(text.slice(j))) throw new Error(`stray '&' near ${offset + j}`);
  }
}

/** Every element of the tree, depth first. */
export function allElements(root: SvgElement): SvgElement[] {
  const out: SvgElement[] = [root];
  for (const child of root.children) out.push(...allElements(child));
  return out;
}

/**
 * The number of mark items Vega drew for the mark named `name` (Vega-Lite's `<name>_marks` groups, summed over
 * facet cells): the children of each `<g class="mark-… role-mark <name>_marks">` group.
 */
export function countMarks(svg: string | SvgElement, name: string): number {
  const root = typeof svg === 'string' ? parseXml(svg) : svg;
  let total = 0;
  for (const el of allElements(root)) {
    const classes = (el.attributes.class ?? '').split(/\s+/);
    if (
      el.name === 'g' &&
      classes.includes('role-mark') &&
      classes.some((c) => c === `${name}_marks` || c.endsWith(`_${name}_marks`))
    ) {
      total += el.children.length;
    }
  }
  return total;
}

/** The width and height a PNG's IHDR chunk declares, after checking its 8-byte signature. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((b, i) => bytes[i] !== b))
    throw new Error('not a PNG (bad signature)');
  const type = String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]);
  if (type !== 'IHDR') throw new Error(`first PNG chunk is ${type}, not IHDR`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
