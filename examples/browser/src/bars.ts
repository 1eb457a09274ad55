import type { ImagePrediction } from './predict.js';

const SVG = 'http://www.w3.org/2000/svg';

function svgElement<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * Draws one horizontal bar per class into `svg` (the predicted class highlighted), each bar a `<g class="bar">`
 * carrying `data-class` and the exact probability in `data-prob` so tests can read what is shown.
 */
export function drawProbabilityBars(
  svg: SVGSVGElement,
  classNames: readonly string[],
  prediction: ImagePrediction,
  predicted: number,
): void {
  svg.replaceChildren();
  const labelWidth = 110;
  const barMax = 360;
  const rowHeight = 25;
  const top = 6;
  svg.setAttribute('height', String(top + rowHeight * classNames.length + 4));
  classNames.forEach((name, k) => {
    const p = prediction.probs[k];
    const y = top + k * rowHeight;
    const group = svgElement('g', { class: 'bar', 'data-class': k, 'data-prob': p });
    group.append(
      svgElement('text', { x: labelWidth - 8, y: y + 15, 'text-anchor': 'end', 'font-size': 13 }, name),
      svgElement('rect', { x: labelWidth, y: y + 3, width: barMax, height: 16, fill: '#eef0f4' }),
      svgElement('rect', {
        x: labelWidth,
        y: y + 3,
        width: Math.max(0.5, p * barMax),
        height: 16,
        fill: k === predicted ? '#2b6cd8' : '#8fa3c4',
      }),
      svgElement(
        'text',
        { x: labelWidth + barMax + 8, y: y + 15, 'font-size': 13 },
        `${(100 * p).toFixed(1)}%`,
      ),
    );
    svg.append(group);
  });
}

/**
 * Fills the `<dl>` with the entropy and, for Monte-Carlo predictives, its aleatoric/epistemic split (also as
 * `data-entropy`, `data-expected-entropy`, `data-mutual-information` on the list, unrounded).
 */
export function showUncertainty(
  list: HTMLDListElement,
  prediction: ImagePrediction,
  numClasses: number,
): void {
  const maxEntropy = Math.log(numClasses);
  const rows: [string, string, string][] = [
    [
      'entropy',
      'Predictive entropy H[p̄]',
      `${prediction.entropy.toFixed(3)} nats (${((100 * prediction.entropy) / maxEntropy).toFixed(0)}% of the maximum ln ${numClasses})`,
    ],
  ];
  if (prediction.expectedEntropy !== undefined && prediction.mutualInformation !== undefined) {
    rows.push(
      [
        'expected-entropy',
        'Expected entropy E[H[p_s]] (aleatoric)',
        `${prediction.expectedEntropy.toFixed(3)} nats`,
      ],
      [
        'mutual-information',
        'Mutual information I[y; θ] (epistemic)',
        `${prediction.mutualInformation.toFixed(4)} nats`,
      ],
    );
  }
  rows.push(['samples', 'Forward passes', String(prediction.samples)]);
  list.replaceChildren();
  list.dataset.entropy = String(prediction.entropy);
  if (prediction.expectedEntropy !== undefined)
    list.dataset.expectedEntropy = String(prediction.expectedEntropy);
  else delete list.dataset.expectedEntropy;
  if (prediction.mutualInformation !== undefined)
    list.dataset.mutualInformation = String(prediction.mutualInformation);
  else delete list.dataset.mutualInformation;
  for (const [key, label, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.id = `u-${key}`;
    dd.textContent = value;
    list.append(dt, dd);
  }
}
