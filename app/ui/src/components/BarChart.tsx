// Bar chart drawn as inline SVG: no chart library, no CDN. The drawing
// takes the width its container has (ResizeObserver), so text stays
// readable on a phone, and a visually hidden table carries the same
// numbers for screen readers.
import { useEffect, useRef, useState } from "react";

export interface Bar {
  label: string;
  // short replaces label when the bars are too narrow for it.
  short?: string;
  value: number;
  note?: string;
}

interface Props {
  title: string;
  bars: Bar[];
  format?: (n: number) => string;
  // integer charts (counts) get whole-number gridlines.
  integer?: boolean;
  color?: string;
  height?: number;
}

const PAD_L = 52;
const PAD_R = 8;
const PAD_B = 34;
const PAD_T = 22;

// scale picks a gridline step of 1, 2 or 5 times a power of ten, giving
// four or five gridlines, and the axis top as a whole number of steps.
export function scale(max: number, integer = false): { top: number; ticks: number[] } {
  let step = 1;
  if (max > 0) {
    const raw = max / 5;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  }
  if (integer) step = Math.max(1, Math.round(step));
  const n = Math.max(1, Math.ceil(max / step - 1e-9));
  const ticks = Array.from({ length: n }, (_, i) => (i + 1) * step);
  return { top: n * step, ticks };
}

export function BarChart({ title, bars, format = String, integer = false, color = "var(--accent)", height = 240 }: Props) {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(640);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(([e]) => {
      const w = Math.round(e.contentRect.width);
      if (w > 0) setWidth(Math.max(260, Math.min(1200, w)));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const { top, ticks } = scale(Math.max(0, ...bars.map((b) => b.value)), integer);
  const plotH = height - PAD_B - PAD_T;
  const slot = (width - PAD_L - PAD_R) / Math.max(1, bars.length);
  const barW = Math.min(72, slot * 0.64);
  const narrow = slot < 84;
  return (
    <figure className="chart" ref={ref}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={title}>
        {ticks.map((g) => {
          const y = PAD_T + plotH * (1 - g / top);
          return (
            <g key={g} className="grid">
              <line x1={PAD_L} x2={width - PAD_R} y1={y} y2={y} />
              <text x={PAD_L - 6} y={y + 4} textAnchor="end">
                {format(g)}
              </text>
            </g>
          );
        })}
        <line className="axis" x1={PAD_L} x2={width - PAD_R} y1={PAD_T + plotH} y2={PAD_T + plotH} />
        {bars.map((b, i) => {
          const h = (b.value / top) * plotH;
          const cx = PAD_L + slot * i + slot / 2;
          const y = PAD_T + plotH - h;
          return (
            <g key={b.label} className="bar">
              <rect x={cx - barW / 2} y={y} width={barW} height={Math.max(h, b.value > 0 ? 1 : 0)} rx={3} fill={color}>
                <title>{`${b.label}: ${format(b.value)}${b.note ? " (" + b.note + ")" : ""}`}</title>
              </rect>
              {b.value > 0 && (
                <text className="value" x={cx} y={y - 4} textAnchor="middle">
                  {format(b.value)}
                </text>
              )}
              <text className="label" x={cx} y={height - PAD_B + 16} textAnchor="middle">
                {narrow && b.short ? b.short : b.label}
              </text>
              {b.note && !narrow && (
                <text className="note" x={cx} y={height - PAD_B + 30} textAnchor="middle">
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
