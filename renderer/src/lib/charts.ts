/**
 * chart.js set-up for the live charts: only the parts a line chart on linear axes needs are
 * registered (tree-shaken bundle), and one function turns series into the chart's data for
 * either x axis (seconds since training started, or MiB this node sent).
 */
import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartDataset,
} from 'chart.js'
import type { SeriesPoint } from './run-view.ts'
import type { ChartPalette } from './theme.ts'

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip)

export { Chart }

export type XAxis = 'time' | 'bytes'

export interface ChartSeries {
  readonly label: string
  readonly points: readonly SeriesPoint[]
  /** Draw points (sparse series such as per-epoch accuracy) instead of a bare line. */
  readonly hasMarkers?: boolean
}

const MIB = 1024 * 1024

export function xOf(point: SeriesPoint, axis: XAxis): number {
  return axis === 'time' ? point.seconds : point.bytesSent / MIB
}

export function xAxisTitle(axis: XAxis): string {
  return axis === 'time' ? 'Time since training started (s)' : 'Bytes this node sent (MiB)'
}

export function datasetsOf(
  series: readonly ChartSeries[],
  axis: XAxis,
  palette: ChartPalette,
): ChartDataset<'line', { x: number; y: number }[]>[] {
  return series.map((s, i) => {
    const colour = palette.series[i % palette.series.length] ?? palette.text
    return {
      label: s.label,
      data: s.points.map((p) => ({ x: xOf(p, axis), y: p.value })),
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2,
      pointRadius: s.hasMarkers === true ? 3 : 0,
      tension: 0,
    }
  })
}

export function lineChartConfig(options: {
  readonly series: readonly ChartSeries[]
  readonly axis: XAxis
  readonly palette: ChartPalette
  readonly yTitle: string
  readonly yMin?: number
  readonly yMax?: number
}): ChartConfiguration<'line', { x: number; y: number }[]> {
  const { palette } = options
  return {
    type: 'line',
    data: { datasets: datasetsOf(options.series, options.axis, palette) },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      color: palette.text,
      interaction: { mode: 'nearest', intersect: false },
      plugins: { legend: { labels: { color: palette.text, boxWidth: 12 } } },
      scales: {
        x: {
          type: 'linear',
          min: 0,
          title: { display: true, text: xAxisTitle(options.axis), color: palette.text },
          ticks: { color: palette.text },
          grid: { color: palette.grid },
        },
        y: {
          type: 'linear',
          ...(options.yMin !== undefined && { min: options.yMin }),
          ...(options.yMax !== undefined && { max: options.yMax }),
          title: { display: true, text: options.yTitle, color: palette.text },
          ticks: { color: palette.text },
          grid: { color: palette.grid },
        },
      },
    },
  }
}

/** The chart in one sentence, for screen readers (a canvas has no text of its own). */
export function describeSeries(title: string, series: readonly ChartSeries[], axis: XAxis): string {
  const parts = series.map((s) => {
    const last = s.points.at(-1)
    if (last === undefined) return `${s.label}: no data yet`
    const x =
      axis === 'time' ? `${last.seconds.toFixed(0)} s` : `${(last.bytesSent / MIB).toFixed(2)} MiB sent`
    return `${s.label}: ${last.value.toFixed(3)} at ${x} (${s.points.length} points)`
  })
  return `${title}. ${parts.join('; ')}.`
}
