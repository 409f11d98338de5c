/** The colour theme: the system's (prefers-color-scheme) unless the person picked one. */

export type ThemeChoice = 'system' | 'light' | 'dark'
export type ResolvedTheme = 'light' | 'dark'

export const THEME_CHOICES: readonly ThemeChoice[] = ['system', 'light', 'dark']
const STORAGE_KEY = 'longhaul.theme'

export function isThemeChoice(value: unknown): value is ThemeChoice {
  return value === 'system' || value === 'light' || value === 'dark'
}

export function initialTheme(storage: Pick<Storage, 'getItem'>): ThemeChoice {
  const stored = storage.getItem(STORAGE_KEY)
  return isThemeChoice(stored) ? stored : 'system'
}

export function saveTheme(storage: Pick<Storage, 'setItem'>, choice: ThemeChoice): void {
  storage.setItem(STORAGE_KEY, choice)
}

export function resolveTheme(choice: ThemeChoice, prefersDark: boolean): ResolvedTheme {
  if (choice === 'system') return prefersDark ? 'dark' : 'light'
  return choice
}

/** Colours the chart library needs as values (it draws on a canvas, outside CSS). */
export interface ChartPalette {
  readonly text: string
  readonly grid: string
  readonly series: readonly [string, string, string]
}

export const CHART_PALETTES: Readonly<Record<ResolvedTheme, ChartPalette>> = {
  light: { text: '#30343d', grid: '#d5d9e0', series: ['#1a56db', '#b4480e', '#1e7a34'] },
  dark: { text: '#d5d9e3', grid: '#353b47', series: ['#7aa7ff', '#ffab70', '#6fd38a'] },
}
