// Bar chart drawn as inline SVG: no chart library, no CDN. The SVG scales
// with its container through viewBox, and a visually hidden table carries
// the same numbers for screen readers.
export interface Bar {
  label: string;
  value: number;
  note?: string;
}

interface Props {
  title: string;
  bars: Bar[];
  format?: (n: number) => string;
  color?: string;
  height?: number;
}

const W = 640;
const PAD_L = 8;
const PAD_B = 34;
const PAD_T = 22;

// niceMax rounds the axis top up to 1, 2 or 5 times a power of ten so the
// gridlines land on round numbers.
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function BarChart({ title, bars, format = String, color = "var(--accent)", height = 240 }: Props) {
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const plotH = height - PAD_B - PAD_T;
  const n = Math.max(1, bars.length);
  const slot = (W - PAD_L * 2) / n;
  const barW = Math.min(72, slot * 0.64);
  const grid = [0.25, 0.5, 0.75, 1];
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-label={title} preserveAspectRatio="xMidYMid meet">
        {grid.map((g) => {
          const y = PAD_T + plotH * (1 - g);
          return (
            <g key={g} className="grid">
              <line x1={PAD_L} x2={W - PAD_L} y1={y} y2={y} />
              <text x={W - PAD_L} y={y - 3} textAnchor="end">
                {format(max * g)}
              </text>
            </g>
          );
        })}
        <line className="axis" x1={PAD_L} x2={W - PAD_L} y1={PAD_T + plotH} y2={PAD_T + plotH} />
        {bars.map((b, i) => {
          const h = max > 0 ? (b.value / max) * plotH : 0;
          const x = PAD_L + slot * i + (slot - barW) / 2;
          const y = PAD_T + plotH - h;
          return (
            <g key={b.label} className="bar">
              <rect x={x} y={y} width={barW} height={Math.max(h, b.value > 0 ? 1 : 0)} rx={3} fill={color}>
                <title>{`${b.label}: ${format(b.value)}${b.note ? " (" + b.note + ")" : ""}`}</title>
              </rect>
              {b.value > 0 && (
                <text className="value" x={x + barW / 2} y={y - 4} textAnchor="middle">
                  {format(b.value)}
                </text>
              )}
              <text className="label" x={x + barW / 2} y={height - PAD_B + 16} textAnchor="middle">
                {b.label}
              </text>
              {b.note && (
                <text className="note" x={x + barW / 2} y={height - PAD_B + 30} textAnchor="middle">
                  {b.note}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <table className="sr-only">
        <caption>{title}</caption>
        <tbody>
          {bars.map((b) => (
            <tr key={b.label}>
              <th scope="row">{b.label}</th>
              <td>{format(b.value)}</td>
              {b.note && <td>{b.note}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
